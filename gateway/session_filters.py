"""The topic filters the gateway's persistent session may hold at the broker, kept in the data
dir, so filters an earlier configuration subscribed are unsubscribed.

A persistent session keeps its subscriptions across restarts: without this, moving a site to
another partition, or removing a subscription, left the old filter in the session and the
gateway kept receiving (and acknowledging) what it no longer wants. On every connect
:meth:`SessionFilters.stale` gives the recorded filters that the configuration no longer has;
the intake unsubscribes them before subscribing its own. The file always names a superset of
what the session may hold (the union is written before the unsubscribe, the configured set
only once the broker confirmed it), so a crash at any point at worst unsubscribes again.
Recorded per client id: another id is another session, which holds nothing of ours.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger("gateway.intake")

FILE = "session-filters.json"


class SessionFilters:
    """The filters the session of ``client_id`` may hold, recorded in ``path``."""

    def __init__(self, path: Path | None, client_id: str, filters: list[str]) -> None:
        self.path = path
        self.client_id = client_id
        self.filters = list(filters)

    def stale(self, session_present: bool) -> list[str]:
        """Recorded filters not configured now, which the session (when the broker kept it)
        may still hold; records the union first."""
        recorded = self._read() if session_present else []
        stale = [f for f in recorded if f not in self.filters]
        self._write(self.filters + stale)
        return stale

    def unsubscribed(self) -> None:
        """The broker confirmed the unsubscribe: the session holds the configured set."""
        self._write(self.filters)

    def _read(self) -> list[str]:
        if self.path is None:
            return []
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s (%s): filters of an earlier configuration stay "
                        "subscribed", self.path, exc)
            return []
        if not isinstance(data, dict) or data.get("client_id") != self.client_id:
            return []
        filters = data.get("filters")
        return [f for f in filters if isinstance(f, str)] if isinstance(filters, list) else []

    def _write(self, filters: list[str]) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"client_id": self.client_id, "filters": filters}))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot record the session's filters in %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
