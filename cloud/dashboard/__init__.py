"""The web dashboard: static pages served at ``/ui/`` that read the public API with the
visitor's own token (no private back door; docs/dashboard.md).

Plain JavaScript modules, CSS and hand-drawn SVG charts, shipped as package data: nothing to
build at install time, nothing fetched from elsewhere at run time (docs/decisions.md, 51).
"""

from cloud.dashboard.mount import STATIC_DIR, mount_dashboard

__all__ = ["STATIC_DIR", "mount_dashboard"]
