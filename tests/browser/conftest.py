"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser) against
a real cloud (uvicorn on a free loopback port, SQLite store) holding a demo-like fleet ingested
through ``POST /v1/ingest``.

Without ``chromium`` or the ``playwright`` package these tests skip with the install line;
under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.dashboard_data import DemoFleet, populate
from tests.support.http import UvicornThread
from tests.support.servers import LOOPBACK, find_binary, free_port, in_ci

INSTALL = ("install them with `sudo apt-get install chromium` and `pip install -e '.[dev]'` "
           "(or `bash scripts/install-deps.sh`)")
TOKEN_KEY = "iotgw.dashboard.token"
#: Screenshots go here (a test artifact); IOTGW_SCREENSHOTS=docs/img copies them for the README.
ARTIFACTS = Path(os.environ.get("IOTGW_ARTIFACTS", "/tmp/iotgw-browser-artifacts"))


def chromium_path() -> str:
    """Debian's chromium; without it (or Playwright) fail under CI, skip elsewhere."""
    path = find_binary("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = f"the browser tests need Debian's `chromium` and Playwright: {INSTALL}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: browser tests must not be skipped)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    exe = chromium_path()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=exe, headless=True,
                           args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@dataclass
class Dashboard:
    """A served cloud with the demo fleet, its tokens and a plain API client."""

    url: str
    app: Any
    fleet: DemoFleet
    tokens: dict[str, str]
    api: httpx.Client

    @property
    def token(self) -> str:
        """What a dashboard user signs in with: ``read`` and ``alerts:write``."""
        return self.tokens["viewer"]


@dataclass
class PageWatch:
    """A page plus everything that went wrong on it: console errors, page errors, failed
    requests and answers >= 400; and every request URL."""

    page: Any
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def wait_live(self, timeout_ms: int = 20_000) -> None:
        """Until the current page has drawn its data once."""
        # A selector, not wait_for_function: the page's CSP forbids eval.
        self.page.locator("#live", has_text="updated").wait_for(timeout=timeout_ms)


def _wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    from cloud.app import create_app
    from cloud.settings import load_settings

    settings = load_settings(None, data_dir=tmp_path_factory.mktemp("cloud"), alerting={
        "evaluate_every_s": 0.5, "webhooks": {"allow_loopback": True, "max_attempts": 1,
                                             "backoff_base_s": 0.1, "poll_s": 0.2,
                                             "timeout_s": 2.0}})
    app = create_app(settings)
    server = UvicornThread(app)
    server.start()
    try:
        services = app.state.services
        tokens = {gw: services.tokens.create(gw)[1] for gw in ("gw-a", "gw-b")}
        admin = services.tokens.create(scopes=["admin"], name="test-admin")[1]
        nobody = f"http://{LOOPBACK}:{free_port()}/hook"
        fleet = populate(server.url, tokens, int(time.time() * 1000), admin, webhook_url=nobody)
        tokens["viewer"] = services.tokens.create(scopes=["read", "alerts:write"],
                                                  name="test-viewer")[1]
        tokens["reader"] = services.tokens.create(scopes=["read"], name="test-reader")[1]
        tokens["admin"] = admin
        api = httpx.Client(base_url=server.url, timeout=30,
                           headers={"Authorization": f"Bearer {admin}"})
        _wait(lambda: any(a["device"] == "conveyor-09"
                          for a in api.get("/v1/alerts", params={"state": "firing"}).json()),
              "the stale-device alert")
        hooks = api.get("/v1/webhooks").json()
        _wait(lambda: any(d["state"] == "failed" for d in api.get(
            f"/v1/webhooks/{hooks[0]['id']}/deliveries").json()), "a failed delivery")
        yield Dashboard(server.url, app, fleet, tokens, api)
        api.close()
    finally:
        server.stop()


@pytest.fixture
def open_page(browser: Any, dashboard: Dashboard) -> Iterator[Callable[..., PageWatch]]:
    """``open_page(hash, token=True, width=1280, height=900)``: a fresh context and page at
    ``/ui/#<hash>``, signed in (token in sessionStorage) unless ``token=False``."""
    contexts: list[Any] = []

    def make(hash_: str = "/fleet", token: bool | str = True, width: int = 1280,
             height: int = 900) -> PageWatch:
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        if token:
            value = dashboard.token if token is True else token
            ctx.add_init_script(f"sessionStorage.setItem({TOKEN_KEY!r}, {value!r})")
        page = ctx.new_page()
        watch = PageWatch(page)
        page.on("console", lambda m: m.type == "error" and watch.problems.append(
            f"console: {m.text}"))
        page.on("pageerror", lambda e: watch.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: watch.problems.append(
            f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and watch.problems.append(
            f"HTTP {r.status}: {r.url}"))
        page.on("request", lambda r: watch.requests.append(r.url))
        page.goto(f"{dashboard.url}/ui/#{hash_}")
        return watch

    try:
        yield make
    finally:
        for ctx in contexts:
            ctx.close()


def screenshot(watch: PageWatch, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (and into IOTGW_SCREENSHOTS if set)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    watch.page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("IOTGW_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        (Path(target) / f"{name}.png").write_bytes(path.read_bytes())
    return path
