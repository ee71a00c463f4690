"""The chart aggregations (/api/v1/stats) against records written through the real record log,
on SQLite and PostgreSQL, in a site time zone with daylight saving (4-8-6(3) analysis).

The site is in America/New_York so that local days of 23 and 25 hours are exercised: the
counts must follow the site's clock, not UTC's and not the server's.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session

from api.accounts import create_account
from api.app import create_app
from gateway.config.site import SiteConfig
from gateway.records import NewRecord, RecordKind
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from tests.api.api_env import PG_ADMIN_URL, SITE, make_settings, postgres_available

pytestmark = pytest.mark.asyncio(loop_scope="module")

NY = ZoneInfo("America/New_York")
PASSWORD = "correct horse battery staple"


def local(day: date, hour: int, minute: int = 0, second: int = 0, *, fold: int = 0) -> datetime:
    """A New York wall-clock time as aware UTC."""
    wall = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=NY, fold=fold)
    return wall.astimezone(UTC)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stats_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated, empty store: a SQLite file or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        engine = make_engine(sqlite_path=tmp_path_factory.mktemp("stats") / "sekisho.db")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432", pytrace=False)
    name = f"sekisho_stats_{secrets.token_hex(6)}"
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


@dataclass
class StatsEnv:
    """The API on a started Gateway (no devices needed) and tokens of two roles."""

    gateway: Gateway
    client: httpx.AsyncClient
    headers: dict[str, dict[str, str]]

    async def record(self, kind: RecordKind, ts: datetime, **fields: Any) -> int:
        """Write a record through the real record log."""
        return await self.gateway.record(NewRecord(kind=kind, ts=ts, **fields))

    async def get(self, path: str, who: str = "chief", **params: Any) -> Any:
        """GET a stats route as ``who``; asserts 200 and returns the body."""
        resp = await self.client.get(
            f"/api/v1/stats/{path}", params=params, headers=self.headers[who]
        )
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stats(stats_engine: Engine) -> AsyncIterator[StatsEnv]:
    """A Gateway on the store, the app around it, chief and auditor logged in."""
    raw: dict[str, Any] = copy.deepcopy(SITE)
    raw["site"]["timezone"] = "America/New_York"
    site = SiteConfig.model_validate(raw)
    gateway = Gateway(site, stats_engine)
    app = create_app(settings=make_settings(), engine=stats_engine, core=gateway)
    with Session(stats_engine, expire_on_commit=False) as session:
        for role in ("chief", "auditor", "admin"):
            create_account(session, site.site.id, role, PASSWORD, role)
    await gateway.start()
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://sekisho.test")
    try:
        headers = {}
        for role in ("chief", "auditor", "admin"):
            resp = await client.post(
                "/api/v1/auth/token", data={"username": role, "password": PASSWORD}
            )
            assert resp.status_code == 200, resp.text
            headers[role] = {"Authorization": f"Bearer {resp.json()['access_token']}"}
        yield StatsEnv(gateway, client, headers)
    finally:
        await client.aclose()
        await gateway.stop()


def granted_in(door: str = "d-srv") -> dict[str, Any]:
    """Fields of a granted entry."""
    return {"door_id": door, "outcome": "granted", "reason": "Granted", "direction": "in"}


def denied(reason: str, door: str = "d-srv") -> dict[str, Any]:
    """Fields of a denial."""
    return {"door_id": door, "outcome": "denied", "reason": reason, "direction": "in"}


# ---------------------------------------------------------------- routes


async def test_entries_per_hour_counts_granted_entries_in_local_hours(stats: StatsEnv) -> None:
    day = date(2026, 3, 8)  # spring forward: 23 hours
    await stats.record(RecordKind.ACCESS, local(day, 0), **granted_in())  # first instant
    await stats.record(RecordKind.ACCESS, local(day, 9, 15), **granted_in())
    await stats.record(RecordKind.ACCESS, local(day, 9, 45), **granted_in("d-vault"))
    await stats.record(RecordKind.ACCESS, local(day, 13, 0), **granted_in())
    await stats.record(RecordKind.ACCESS, local(day, 3, 30), **granted_in())  # after the gap
    # Not entries: an exit, a denial, a door opening, the days before and after.
    await stats.record(RecordKind.ACCESS, local(day, 9), **{**granted_in(), "direction": "out"})
    await stats.record(RecordKind.ACCESS, local(day, 9), **denied("Unauthorized"))
    await stats.record(RecordKind.ACCESS_TAKEN, local(day, 9), door_id="d-srv", direction="in")
    await stats.record(RecordKind.ACCESS, local(day, 0) - timedelta(seconds=1), **granted_in())
    await stats.record(RecordKind.ACCESS, local(day + timedelta(days=1), 0), **granted_in())
    body = await stats.get("entries-per-hour", day="2026-03-08")
    assert body["day"] == "2026-03-08" and body["timezone"] == "America/New_York"
    assert body["total"] == 5
    hours = body["hours"]
    assert [h["hour"] for h in hours] == [0, 1, *range(3, 24)]
    counts = {h["hour"]: h["count"] for h in hours}
    assert counts == {h["hour"]: {0: 1, 3: 1, 9: 2, 13: 1}.get(h["hour"], 0) for h in hours}
    assert hours[0]["start"] == "2026-03-08T00:00:00-05:00"
    assert hours[2]["start"] == "2026-03-08T03:00:00-04:00"


async def test_entries_per_hour_on_a_fall_back_day_has_two_one_oclocks(stats: StatsEnv) -> None:
    day = date(2026, 11, 1)
    await stats.record(RecordKind.ACCESS, local(day, 1, 10, fold=0), **granted_in())
    await stats.record(RecordKind.ACCESS, local(day, 1, 10, fold=1), **granted_in())
    await stats.record(RecordKind.ACCESS, local(day, 1, 50, fold=1), **granted_in())
    body = await stats.get("entries-per-hour", day="2026-11-01")
    assert len(body["hours"]) == 25
    first, second = body["hours"][1], body["hours"][2]
    assert (first["hour"], first["count"]) == (1, 1)
    assert (second["hour"], second["count"]) == (1, 2)
    assert first["start"].endswith("-04:00") and second["start"].endswith("-05:00")


async def test_entries_default_to_today_in_the_site_time_zone(stats: StatsEnv) -> None:
    now = datetime.now(UTC)
    await stats.record(RecordKind.ACCESS, now, **granted_in())
    body = await stats.get("entries-per-hour")
    assert body["day"] == now.astimezone(NY).date().isoformat()
    assert body["total"] >= 1
    hour = next(h for h in body["hours"] if h["hour"] == now.astimezone(NY).hour)
    assert hour["count"] >= 1


async def test_denials_by_reason_over_one_and_seven_local_days(stats: StatsEnv) -> None:
    day = date(2026, 4, 20)
    for reason, when in [
        ("Unauthorized", local(day, 8)),
        ("Unauthorized", local(day, 23, 59, 59)),
        ("InvalidPIN", local(day, 12)),
        ("CredentialNotFound", local(day - timedelta(days=3), 12)),
        ("CredentialNotFound", local(day - timedelta(days=6), 0)),  # first instant of 7 days
        ("CredentialNotFound", local(day - timedelta(days=7), 23)),  # 8 days ago: outside
        ("Unauthorized", local(day + timedelta(days=1), 0)),  # tomorrow: outside
    ]:
        await stats.record(RecordKind.ACCESS, when, **denied(reason))
    await stats.record(RecordKind.ACCESS, local(day, 9), **granted_in())  # not a denial
    today = await stats.get("denials", day="2026-04-20", days=1)
    assert today["reasons"] == [
        {"reason": "Unauthorized", "count": 2},
        {"reason": "InvalidPIN", "count": 1},
    ]
    assert today["total"] == 3
    assert today["since"] == "2026-04-20T04:00:00Z"
    assert today["until"] == "2026-04-21T04:00:00Z"
    week = await stats.get("denials", day="2026-04-20", days=7)
    assert week["reasons"] == [  # most first; ties by name
        {"reason": "CredentialNotFound", "count": 2},
        {"reason": "Unauthorized", "count": 2},
        {"reason": "InvalidPIN", "count": 1},
    ]
    assert (week["days"], week["total"]) == (7, 5)


async def test_door_alarms_by_door_list_every_door_and_doors_gone_from_the_site(
    stats: StatsEnv,
) -> None:
    day = date(2026, 5, 15)
    for kind, door, when in [
        (RecordKind.DOOR_FORCED, "d-vault", local(day, 2)),
        (RecordKind.DOOR_FORCED, "d-vault", local(day - timedelta(days=6), 1)),
        (RecordKind.DOOR_HELD, "d-vault", local(day, 3)),
        (RecordKind.DOOR_HELD, "d-srv", local(day - timedelta(days=2), 3)),
        (RecordKind.DOOR_HELD, "d-gone", local(day, 4)),  # a door since removed
        (RecordKind.DOOR_FORCED, "d-srv", local(day - timedelta(days=7), 12)),  # outside
        (RecordKind.DOOR_HELD_PREALARM, "d-srv", local(day, 5)),  # a warning, not an alarm
    ]:
        await stats.record(kind, when, door_id=door)
    body = await stats.get("door-alarms", day="2026-05-15")
    assert body["days"] == 7
    assert body["doors"] == [
        {"door_id": "d-srv", "name": "Server room door", "forced": 0, "held": 1},
        {"door_id": "d-vault", "name": "Vault door", "forced": 2, "held": 1},
        {"door_id": "d-gone", "name": None, "forced": 0, "held": 1},
    ]
    assert body["total"] == 5
    quiet = await stats.get("door-alarms", day="2025-05-15", days=1)
    assert [(d["door_id"], d["forced"], d["held"]) for d in quiet["doors"]] == [
        ("d-srv", 0, 0),
        ("d-vault", 0, 0),
    ]


async def test_alarms_by_type_count_raised_alarms_in_local_days(stats: StatsEnv) -> None:
    # 4-8-7(4)(5): the chart counts alarm.raised records by their type; a repeat on an open
    # alarm, an acknowledgement or a clearance is not a new alarm.
    day = date(2026, 6, 10)

    def raised(kind: str, n: int = 1) -> dict[str, Any]:
        return {"detail": {"alarm_id": f"a{n}", "type": kind, "priority": 2, "count": 1}}

    for kind, when, rec_kind in [
        ("door.forced", local(day, 1), RecordKind.ALARM_RAISED),
        ("door.forced", local(day - timedelta(days=6), 0), RecordKind.ALARM_RAISED),  # first day
        ("env.smoke", local(day, 23, 59, 59), RecordKind.ALARM_RAISED),
        ("env.smoke", local(day - timedelta(days=2), 12), RecordKind.ALARM_RAISED),
        ("reader.tamper", local(day, 12), RecordKind.ALARM_RAISED),
        ("door.forced", local(day, 2), RecordKind.ALARM_REPEATED),  # a repeat: not counted
        ("door.forced", local(day, 3), RecordKind.ALARM_ACKNOWLEDGED),  # not counted
        ("door.held", local(day - timedelta(days=7), 23), RecordKind.ALARM_RAISED),  # 8 days ago
        ("door.held", local(day + timedelta(days=1), 0), RecordKind.ALARM_RAISED),  # tomorrow
    ]:
        await stats.record(rec_kind, when, **raised(kind))
    body = await stats.get("alarms-by-type", day="2026-06-10")
    assert (body["days"], body["timezone"]) == (7, "America/New_York")
    assert body["types"] == [  # most first; ties by type
        {"type": "door.forced", "count": 2},
        {"type": "env.smoke", "count": 2},
        {"type": "reader.tamper", "count": 1},
    ]
    assert body["total"] == 5
    assert body["since"] == "2026-06-04T04:00:00Z"
    assert body["until"] == "2026-06-11T04:00:00Z"
    one = await stats.get("alarms-by-type", day="2026-06-10", days=1)
    assert one["types"] == [  # all ties: by type
        {"type": "door.forced", "count": 1},
        {"type": "env.smoke", "count": 1},
        {"type": "reader.tamper", "count": 1},
    ]
    assert one["total"] == 3
    assert (await stats.get("alarms-by-type", day="2025-06-10"))["types"] == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("denials", {"days": 0}),
        ("denials", {"days": 32}),
        ("door-alarms", {"days": -1}),
        ("alarms-by-type", {"days": 0}),
        ("alarms-by-type", {"day": "3000-01-01"}),
        ("entries-per-hour", {"day": "1999-12-31"}),
        ("entries-per-hour", {"day": "3000-01-01"}),
        ("entries-per-hour", {"day": "2026-02-30"}),
        ("denials", {"day": "yesterday"}),
    ],
)
async def test_bad_windows_are_refused_with_422(
    stats: StatsEnv, path: str, params: dict[str, Any]
) -> None:
    resp = await stats.client.get(
        f"/api/v1/stats/{path}", params=params, headers=stats.headers["chief"]
    )
    assert resp.status_code == 422, resp.text


async def test_the_auditor_may_read_the_stats_and_the_admin_may_not(stats: StatsEnv) -> None:
    # 4-8-6(6): aggregates of records are records; the administrator has no right to them.
    for path in ("entries-per-hour", "denials", "door-alarms", "alarms-by-type"):
        assert (await stats.get(path, who="auditor"))["total"] >= 0
        resp = await stats.client.get(f"/api/v1/stats/{path}", headers=stats.headers["admin"])
        assert resp.status_code == 403
        resp = await stats.client.get(f"/api/v1/stats/{path}")
        assert resp.status_code == 401


async def test_ui_config_tells_the_page_its_settings_only_after_login(stats: StatsEnv) -> None:
    assert (await stats.client.get("/api/v1/ui/config")).status_code == 401
    for who in ("chief", "auditor", "admin"):
        resp = await stats.client.get("/api/v1/ui/config", headers=stats.headers[who])
        assert resp.status_code == 200
        body = resp.json()
        assert body.pop("record_kinds") == [kind.value for kind in RecordKind]
        assert body == {
            "site_name": "Head office, 3F",
            "timezone": "America/New_York",
            "idle_logoff_minutes": 10.0,
            "access_token_minutes": 15,
        }
