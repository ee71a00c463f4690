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
from devices.mqtt.from_site import build_link
from gateway.alarms.stack import AlarmStack
from gateway.config import SiteConfig, load_site
from gateway.custody_stack import CustodyStack
from gateway.mqtt.service import AlarmService, MqttService
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from sekisho.audit_runtime import AuditRuntime
from sekisho.cameras import attach_cameras
from sekisho.diagnostics import install_task_dump
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


def build_mqtt(
    site: Site, gateway: Gateway, alarms: AlarmService | None = None
) -> MqttService | None:
    """The MQTT bus service when the site file has an enabled ``mqtt:`` section, else None."""
    cfg = site.config.mqtt
    if cfg is None or not cfg.enabled:
        return None
    link = build_link(cfg, site.config.site.id, site.base)
    return MqttService(gateway, site.engine, link, alarms=alarms, zones=gateway)


def describe_mqtt(config: SiteConfig) -> str:
    """One line for the start-up banner: where MQTT goes, or that it is off."""
    cfg = config.mqtt
    if cfg is None or not cfg.enabled:
        return "MQTT:       off (no enabled mqtt: section in the site file)"
    tls = " over TLS" if cfg.tls is not None else ""
    return (
        f"MQTT:       {cfg.host}:{cfg.port}{tls}, topics under {cfg.topic_prefix(config.site.id)}/"
        + (
            f", Home Assistant discovery on {cfg.discovery.prefix}/"
            if cfg.discovery.enabled
            else ""
        )
    )


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
    audit = AuditRuntime(site)  # issue 4: signed record log, site lock, purge and analyses
    gateway = Gateway(
        site.config,
        site.engine,
        readers=build_readers(site.config, site.base),
        modules=build_modules(site.config),
        record_log=audit.log,
    )
    stack = AlarmStack.attach(gateway, site.engine)  # alarms, sensors, incidents (issue 6)
    cameras = attach_cameras(gateway, site.engine, base=site.base, data_dir=data_dir)  # issue 7
    custody = CustodyStack.attach(gateway, site.engine)  # visits, contractors, media (issue 5)
    app = create_app(
        settings=settings_for(data_dir),
        engine=site.engine,
        core=gateway,
        alarms=stack.alarms,
        incidents=stack.incidents,
        cameras=cameras,
        custody=custody,
    )
    mqtt = build_mqtt(site, gateway, stack.alarms)  # issue 6: None when the site has none
    log.info("%s", describe_mqtt(site.config))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    install_task_dump(loop)
    if mqtt is not None:
        await mqtt.start()  # before the gateway: its start-up events go out too
    audit.start()
    await stack.start()
    await custody.start()  # before the gateway: its exit watcher sees the first passages
    await gateway.start()
    if cameras is not None:
        await cameras.start()
    audit.start_chores(gateway)
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
        if cameras is not None:
            await cameras.stop()
        await custody.stop()
        await stack.stop()
        await gateway.stop()
        await audit.stop()
        if mqtt is not None:
            await mqtt.stop()  # after the gateway: its stop event goes out too
        site.engine.dispose()
