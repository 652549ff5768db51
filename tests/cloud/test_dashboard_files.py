"""The dashboard's files: served at /ui/ with a strict CSP, small, self-contained."""

from __future__ import annotations

import gzip
import re

from cloud.dashboard import STATIC_DIR

#: The dashboard's budget: all of its assets together, gzipped.
PAGE_WEIGHT_LIMIT = 300 * 1024


def _files() -> list:
    return sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())


def test_all_assets_weigh_less_than_300_kb_gzipped() -> None:
    total = sum(len(gzip.compress(p.read_bytes(), 9)) for p in _files())
    assert 0 < total <= PAGE_WEIGHT_LIMIT


def test_nothing_is_loaded_from_elsewhere_and_every_import_exists() -> None:
    for path in _files():
        text = path.read_text()
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), f"{path.name} refers to {urls}"
        for target in re.findall(r'from "(\.[^"]+)"', text):
            assert (path.parent / target).resolve().is_file(), f"{path.name}: {target}"
        assert "innerHTML" not in text and "eval(" not in text


def test_index_preloads_every_module() -> None:
    """One round trip for all modules instead of a waterfall of imports."""
    index = (STATIC_DIR / "index.html").read_text()
    modules = {p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*.js")}
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', index))
    assert preloaded | {"app.js"} == modules


def test_ui_is_served_with_security_headers_and_root_redirects(make_cloud) -> None:
    cloud = make_cloud("sqlite")
    r = cloud.http.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    r = cloud.http.get("/ui/")
    assert r.status_code == 200 and '<script type="module" src="app.js">' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    for path in _files():
        rel = path.relative_to(STATIC_DIR).as_posix()
        got = cloud.http.get(f"/ui/{rel}")
        assert got.status_code == 200 and got.content == path.read_bytes()
        if rel.endswith(".js"):
            assert "javascript" in got.headers["content-type"]
