"""Issue 3 end to end: what the API sets reaches a badge at the simulated server-room door.

The demo site on firmware-sim (OSDP Secure Channel readers on a pty, Modbus TCP I/O on
127.0.0.1, SQLite) runs a real Gateway; the API around it is reached over ASGI. The server room
requires a purpose (用件の確認, 4-8-7(1)) and a card+PIN (4-8-7(3)).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session

from api.accounts import create_account
from api.app import create_app
from gateway.domain import DoorState, Reason
from gateway.records import RecordKind
from sekisho.simulated import SimulatedSite, start_simulated_site, stop_simulated_site
from tests.api.api_env import PASSWORD, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

ZONE = "server-room"


@dataclass
class Rig:
    """The simulated site, the API client and the accounts' headers."""

    site: SimulatedSite
    client: httpx.AsyncClient
    headers: dict[str, dict[str, str]]

    async def call(self, who: str, method: str, path: str, body: Any = None) -> httpx.Response:
        """One request as ``who``."""
        return await self.client.request(
            method, f"/api/v1{path}", headers=self.headers[who], json=body
        )

    def greens(self, reader: str = "sr-in") -> int:
        """How many green LED commands the reader has received."""
        return sum(f["color"] == "green" for f in self.site.sim.feedback(reader))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    """The demo site running on firmware-sim, with a desk operator and the zone's manager."""
    site = await start_simulated_site(tmp_path_factory.mktemp("rules-e2e"))
    assert site.stack is not None
    app = create_app(
        settings=make_settings(),
        engine=site.engine,
        core=site.gateway,
        alarms=site.stack.alarms,
        incidents=site.stack.incidents,
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e2e.test")
    try:
        with Session(site.engine, expire_on_commit=False) as session:
            create_account(session, site.config.site.id, "desk", PASSWORD, "operator")
            create_account(session, site.config.site.id, "boss", PASSWORD, "manager", zones=[ZONE])
        headers = {}
        for user in ("desk", "boss"):
            resp = await client.post(
                "/api/v1/auth/token", data={"username": user, "password": PASSWORD}
            )
            assert resp.status_code == 200, resp.text
            headers[user] = {"Authorization": f"Bearer {resp.json()['access_token']}"}
        yield Rig(site, client, headers)
    finally:
        await client.aclose()
        await stop_simulated_site(site)


async def _walk_through(site: SimulatedSite) -> None:
    """Open the released door and wait until it is shut and locked again."""
    await site.wait_until(
        lambda: site.sim.door_view("sr-door")["strike_released"], what="sr-door released"
    )
    await site.sim.door("sr-door", "open")
    await site.wait_until(
        lambda: site.door_state("sr-door") is DoorState.LOCKED, within=20, what="sr-door relocked"
    )


async def test_an_approved_work_order_opens_the_door_with_its_purpose(rig: Rig) -> None:
    site = rig.site
    card, pin = "H10301:12:1201", "2580"
    person = await site.add_person("Kenji Field Engineer", card, pin=pin, purpose=None)
    _, denied = await site.badge("sr-in", card, pin=pin)
    assert (denied.outcome, denied.reason) == ("denied", Reason.NO_APPROVED_PURPOSE.value)
    now = datetime.now(UTC)
    purpose = "replace failed PSU in rack 7, ticket 8812"
    resp = await rig.call(
        "desk",
        "POST",
        "/work-orders",
        {
            "person_id": person,
            "zone_id": ZONE,
            "purpose": purpose,
            "valid_from": (now - timedelta(minutes=1)).isoformat(),
            "valid_to": (now + timedelta(hours=2)).isoformat(),
        },
    )
    assert resp.status_code == 201, resp.text
    order = resp.json()["id"]
    _, still = await site.badge("sr-in", card, pin=pin)  # requested is not yet approved
    assert still.reason == Reason.NO_APPROVED_PURPOSE.value
    resp = await rig.call("boss", "POST", f"/work-orders/{order}/approve", {"note": "ok"})
    assert resp.status_code == 200, resp.text
    greens = rig.greens()
    seq, granted = await site.badge("sr-in", card, pin=pin)
    assert (granted.outcome, granted.person_id) == ("granted", person)
    assert granted.detail["purpose"] == purpose
    assert granted.detail["work_order_id"] == order
    await site.wait_until(lambda: rig.greens() > greens, what="green at sr-in")
    stored = await rig.call("boss", "GET", f"/events/{seq}")
    assert stored.json()["detail"]["purpose"] == purpose
    await _walk_through(site)
    resp = await rig.call("desk", "GET", f"/zones/{ZONE}/occupancy")
    assert resp.status_code == 200
    [inside] = [o for o in resp.json()["occupants"] if o["person_id"] == person]
    assert (inside["name"], inside["kind"], inside["outsider"]) == (
        "Kenji Field Engineer",
        "staff",
        False,
    )
    assert inside["entry_seq"] == seq
    # cancelled, the order no longer gives the next entry a purpose
    resp = await rig.call("boss", "POST", f"/work-orders/{order}/cancel", {"note": "done"})
    assert resp.status_code == 200
    _, out = await site.badge("sr-out", card)
    assert (out.outcome, out.direction) == ("granted", "out")
    await _walk_through(site)
    _, again = await site.badge("sr-in", card, pin=pin)
    assert (again.outcome, again.reason) == ("denied", Reason.NO_APPROVED_PURPOSE.value)


async def test_a_duress_pin_set_through_the_api_grants_and_raises_the_silent_alarm(
    rig: Rig,
) -> None:
    site = rig.site
    card, pin, duress = "H10301:12:1202", "1470", "1471"
    person = await site.add_person("Aiko Admin Staff", card, pin=pin)
    creds = await rig.call("desk", "GET", f"/people/{person}/credentials")
    [cred] = creds.json()
    resp = await rig.call(
        "desk", "PUT", f"/credentials/{cred['id']}/duress-pin", {"duress_pin": duress}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["has_duress_pin"] is True
    seq, granted = await site.badge("sr-in", card, pin=duress)
    assert granted.outcome == "granted"
    _, alarm = await site.wait_record(lambda r: r.kind is RecordKind.ACCESS_DURESS, after=seq - 1)
    assert alarm.person_id == person
    assert alarm.detail["decision_seq"] == seq


async def test_a_lockdown_from_the_api_denies_the_badge_and_release_restores_it(rig: Rig) -> None:
    site = rig.site
    card, pin = "H10301:12:1203", "3690"
    await site.add_person("Lock Tester", card, pin=pin)
    resp = await rig.call("desk", "POST", f"/zones/{ZONE}/lockdown", {"reason": "drill"})
    assert resp.status_code == 200, resp.text
    try:
        _, denied = await site.badge("sr-in", card, pin=pin)
        assert (denied.outcome, denied.reason) == ("denied", Reason.DOOR_LOCKED_DOWN.value)
    finally:
        resp = await rig.call("boss", "POST", f"/zones/{ZONE}/lockdown/release", {"reason": "end"})
    assert resp.status_code == 200, resp.text
    _, ok = await site.badge("sr-in", card, pin=pin)
    assert ok.outcome == "granted"
