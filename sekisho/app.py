"""Run one site: load the site file, open storage, start drivers and the core, serve the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from pydantic import SecretStr
from sqlalchemy import Engine

from api.app import create_app
from api.settings import Settings
from gateway.config import SiteConfig, load_site
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from sekisho.drivers import build_modules, build_readers
from sekisho.secret_files import load_or_create_token

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Site:
    """A loaded site file with the storage it names."""

    config: SiteConfig
    base: Path  # the site file's folder: relative paths in it are relative to this
    engine: Engine


def open_site(site_file: Path) -> Site:
    """Load and validate the site file, open its storage and bring the schema up to date."""
    config = load_site(site_file)
    base = site_file.resolve().parent
    if config.storage.url:
        engine = make_engine(config.storage.url)
    else:
        engine = make_engine(sqlite_path=base / config.storage.path)
    upgrade(engine)
    return Site(config, base, engine)


def settings_for(data_dir: Path) -> Settings:
    """API settings: the token key comes from SEKISHO_SECRET_KEY or DATA_DIR/secret.key."""
    if os.environ.get("SEKISHO_SECRET_KEY"):
        return Settings()
    return Settings(secret_key=SecretStr(load_or_create_token(data_dir / "secret.key")))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (ours stops the gateway cleanly first)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave signals to the caller."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then say so."""
        await super().startup(sockets)
        self.ready.set()


async def serve(
    site: Site,
    *,
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[Gateway, int], Awaitable[None]] | None = None,
) -> None:
    """Run the gateway and its API until SIGINT/SIGTERM."""
    gateway = Gateway(
        site.config,
        site.engine,
        readers=build_readers(site.config, site.base),
        modules=build_modules(site.config),
    )
    app = create_app(settings=settings_for(data_dir), engine=site.engine, core=gateway)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    await gateway.start()
    try:
        serving = asyncio.create_task(server.serve())
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if server.ready.is_set() and on_ready is not None:
            bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
            await on_ready(gateway, bound)
        await serving
    finally:
        await gateway.stop()
        site.engine.dispose()
