"""Fixtures of the dashboard tests: the whole simulated site, the API served by uvicorn on a
free port, and Debian's chromium driven by Playwright (no browser download exists here).

Browser modules share one site and one browser per module (``loop_scope="module"``: the
Gateway, uvicorn and Playwright all run on that loop); every test gets a fresh browser context,
so sessionStorage and localStorage start empty.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright
from sqlmodel import Session

from api.accounts import create_account
from api.app import create_app
from api.settings import Settings
from gateway.records import NewRecord
from tests.integration.harness import Harness, start_harness, stop_harness

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
PASSWORD = "correct horse battery staple"
ROLES = ("chief", "manager", "operator", "auditor", "admin")
# Everything that names the demo site's layout: none of it may be served before login.
SITE_WORDS = (
    "Demo HQ",
    "Server room door",
    "Media vault door",
    "Server room (情報システム室)",
    "Media vault (媒体保管庫)",
    "sr-door",
    "vault-door",
    "server-room",
    "media-vault",
    "sr-in",
    "sr-out",
    "vault-in",
    "io1",
)
# Counts Web Audio oscillators started by the page: the alarm chime is audible only in a
# speaker, so the test watches the API the page must call to make it.
COUNT_CHIMES = """
(() => {
  const start = OscillatorNode.prototype.start;
  window.__oscillators = 0;
  OscillatorNode.prototype.start = function (...args) {
    window.__oscillators += 1;
    return start.apply(this, args);
  };
})();
"""


def make_settings(**overrides: Any) -> Settings:
    """API settings with a fresh random key."""
    return Settings(secret_key=secrets.token_urlsafe(48), **overrides)


@dataclass
class Served:
    """An app served by uvicorn on 127.0.0.1 (a free port) on the test's event loop."""

    app: FastAPI
    base_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]


async def wait_until(cond: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``cond`` until it holds; generous for a loaded 2-core machine."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.02)


async def wait_record(
    h: Harness, pred: Callable[[NewRecord], bool], *, after: int, timeout: float = 15.0
) -> tuple[int, NewRecord]:
    """The first committed record after seq ``after`` that satisfies ``pred``."""
    found: list[tuple[int, NewRecord]] = []

    def seen() -> bool:
        found[:] = [(seq, rec) for seq, rec in h.written if seq > after and pred(rec)][:1]
        return bool(found)

    await wait_until(seen, timeout, "a matching record")
    return found[0]


async def serve(app: FastAPI) -> Served:
    """Start uvicorn for ``app`` on a free port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), what="uvicorn started")
    if task.done():
        task.result()  # raises what went wrong
    port = server.servers[0].sockets[0].getsockname()[1]
    return Served(app, f"http://127.0.0.1:{port}", server, task)


async def stop_serving(served: Served) -> None:
    """Stop uvicorn (open event streams are cut after the graceful timeout)."""
    served.server.should_exit = True
    await asyncio.wait_for(served.task, timeout=20)


@dataclass
class DashSite:
    """The running demo site, its API, and one account per role (username = role)."""

    h: Harness
    served: Served
    settings: Settings
    accounts: dict[str, str] = field(default_factory=dict)  # username -> account id
    extra: list[Served] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """Where the dashboard is served."""
        return self.served.base_url

    async def serve_with(self, **settings: Any) -> str:
        """Serve the same site with other settings (stopped with the module); its base URL."""
        served = await serve(site_app(self.h, make_settings(**settings)))
        self.extra.append(served)
        return served.base_url


def site_app(h: Harness, settings: Settings) -> FastAPI:
    """The API with the dashboard around the whole site: alarms, incidents, custody, cameras."""
    assert h.stack is not None
    return create_app(
        settings=settings,
        engine=h.engine,
        core=h.gateway,
        alarms=h.stack.alarms,
        incidents=h.stack.incidents,
        custody=h.custody,
        cameras=h.cameras,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dash(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DashSite]:
    """The demo site on firmware-sim with real drivers, and the API with the dashboard.

    A test module that sets ``CAMERAS = True`` gets the simulated door camera too (issue 7);
    one that defines ``SITE_PATCH(raw)`` changes the site file before the gateway starts.
    """
    h = await start_harness(
        tmp_path_factory.mktemp("dashboard") / "site",
        cameras=bool(getattr(request.module, "CAMERAS", False)),
        site_patch=getattr(request.module, "SITE_PATCH", None),
    )
    try:
        accounts = {}
        with Session(h.engine, expire_on_commit=False) as session:
            for role in ROLES:
                account = create_account(
                    session,
                    h.config.site.id,
                    role,
                    PASSWORD,
                    role,
                    display_name=f"Test {role}",
                    zones=["server-room", "media-vault"] if role == "manager" else (),
                )
                accounts[role] = account.id
        settings = make_settings()
        served = await serve(site_app(h, settings))
        site = DashSite(h, served, settings, accounts)
        try:
            yield site
        finally:
            for extra in site.extra:
                await stop_serving(extra)
            await stop_serving(served)
    finally:
        await stop_harness(h)


def chromium_installed() -> bool:
    """True when Debian's chromium is where the tests expect it."""
    return CHROMIUM.is_file()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless."""
    if not chromium_installed():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class PageProblems:
    """What went wrong inside the page: script errors and Content-Security-Policy refusals."""

    errors: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        """Keep CSP violations (chromium reports them on the console)."""
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def on_error(self, error: Exception) -> None:
        """Keep uncaught exceptions."""
        self.errors.append(str(error))


@dataclass
class Desk:
    """A browser tab on the dashboard, and what went wrong in it."""

    page: Page
    problems: PageProblems
    base_url: str

    async def login(self, username: str, *, base_url: str | None = None) -> None:
        """Open the dashboard and sign in; returns once the door board shows its doors."""
        await self.page.goto((base_url or self.base_url) + "/")
        await self.page.fill("#username", username)
        await self.page.fill("#password", PASSWORD)
        await self.page.click("#sign-in")
        for door in ("vault-door", "sr-door"):
            tile = f'.door-tile[data-door="{door}"]:not([data-state="unknown"])'
            await self.page.locator(tile).wait_for(timeout=15_000)
        # The live stream is subscribed: what happens from now on reaches the page.
        await self.page.locator('#conn[data-status="live"]').wait_for(timeout=15_000)

    async def shot(self, name: str) -> Path:
        """Keep a screenshot under test-artifacts/dashboard/."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


DeskFactory = Callable[..., Awaitable[Desk]]


@pytest_asyncio.fixture(loop_scope="module")
async def desk_factory(browser: Browser, dash: DashSite) -> AsyncIterator[DeskFactory]:
    """Open fresh browser contexts (English unless told); each is closed after the test."""
    contexts = []
    desks: list[Desk] = []

    async def open_desk(*, locale: str = "en-GB", clock: bool = False) -> Desk:
        # Reduced motion stops the alarm pulse: a headless browser repainting it for ever takes
        # CPU from the simulated OSDP bus on a 2-core machine (a real desk is another machine).
        context = await browser.new_context(
            viewport={"width": 1440, "height": 1000},
            locale=locale,
            timezone_id="Europe/London",
            reduced_motion="reduce",
        )
        contexts.append(context)
        await context.add_init_script(COUNT_CHIMES)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        if clock:
            await page.clock.install()
        problems = PageProblems()
        page.on("console", problems.on_console)
        page.on("pageerror", problems.on_error)
        desk = Desk(page, problems, dash.base_url)
        desks.append(desk)
        return desk

    try:
        yield open_desk
    finally:
        for context in contexts:
            await context.close()
    for desk in desks:
        assert not desk.problems.csp, desk.problems.csp
        assert not desk.problems.errors, desk.problems.errors


@pytest_asyncio.fixture(loop_scope="module")
async def desk(desk_factory: DeskFactory) -> Desk:
    """One English browser tab."""
    return await desk_factory()


def words_in(text: str) -> list[str]:
    """The site words that occur in ``text``."""
    return [w for w in SITE_WORDS if re.search(re.escape(w), text)]
