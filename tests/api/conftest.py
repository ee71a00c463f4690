"""A running API for tests: real Gateway, real store (SQLite file and PostgreSQL), real devices.

One environment per test module and backend (``scope="module"``): the store is migrated, the
accounts of every role are created once (argon2 costs ~25 ms a hash), the Gateway runs with a
simulated Modbus I/O module on 127.0.0.1 (door ``d-srv`` is online; ``d-vault``'s module is
absent, so that door is in fault), and the app is reached with httpx over ASGITransport.
Modules that use these fixtures mark their tests ``pytest.mark.asyncio(loop_scope="module")``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import Engine

from api.app import create_app
from devices.modbus_io import ModbusIOModule
from gateway.alarms.stack import AlarmStack
from gateway.config.site import SiteConfig
from gateway.custody_stack import CustodyStack
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from sekisho_sim.io_module import SimDoorSpec, SimIOModule
from tests.api.api_env import (
    PG_ADMIN_URL,
    ROLES,
    SITE,
    ApiEnv,
    LiveServer,
    make_settings,
    postgres_available,
    wait_for,
)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def api_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated, empty store: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        engine = make_engine(sqlite_path=tmp_path_factory.mktemp("api") / "sekisho.db")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    if not postgres_available():
        pytest.fail(
            "PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres "
            "(start it with scripts/test-services)",
            pytrace=False,
        )
    name = f"sekisho_api_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(api_engine: Engine) -> AsyncIterator[ApiEnv]:
    """A started Gateway and the API around it, with one account per role logged in."""
    site = SiteConfig.model_validate(SITE)
    site_id = site.site.id
    sim = SimIOModule("io1", doors=[SimDoorSpec("d-srv", strike_coil=0, contact_input=0)])
    await sim.start()
    driver = ModbusIOModule("io1", "127.0.0.1", sim.port, poll_ms=10.0, backoff_initial_s=0.05)
    gateway = Gateway(site, api_engine, modules=[driver])
    settings = make_settings()
    stack = AlarmStack.attach(gateway, api_engine)
    custody = CustodyStack.attach(gateway, api_engine)  # issue 5
    app = create_app(
        settings=settings,
        engine=api_engine,
        core=gateway,
        alarms=stack.alarms,
        incidents=stack.incidents,
        custody=custody,
    )
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://sekisho.test")
    backend = api_engine.dialect.name
    environment = ApiEnv(
        backend,
        app,
        client,
        gateway,
        api_engine,
        settings,
        sim,
        site_id,
        stack=stack,
        custody=custody,
    )
    environment.people["manager"] = environment.add_person("Mina Manager")
    environment.people["admin"] = environment.add_person("Ada Admin")
    for role in ROLES:
        extra: dict[str, Any] = {}
        if role == "manager":
            extra = {"zones": ["srv"], "person_id": environment.people["manager"]}
        elif role == "admin":
            extra = {"person_id": environment.people["admin"]}
        environment.accounts[role] = environment.add_account(role, role, **extra)
    await stack.start()
    await custody.start()
    await gateway.start()
    try:
        await wait_for(
            lambda: (
                next(d for d in gateway.doors() if d.door_id == "d-srv").state.value == "locked"
            ),
            what="door d-srv online",
        )
        for role in ROLES:
            environment.tokens[role] = await environment.token_for(role)
        yield environment
    finally:
        await client.aclose()
        await custody.stop()
        await stack.stop()
        await gateway.stop()
        await sim.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live_server(env: ApiEnv) -> AsyncIterator[LiveServer]:
    """uvicorn serving ``env.app`` on the module's event loop (where the Gateway runs)."""
    config = uvicorn.Config(
        env.app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started or task.done(), what="uvicorn started")
    if task.done():
        task.result()  # raises what went wrong
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", server, task)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
