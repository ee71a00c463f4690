"""The visitor desk and the media desk in a real browser on the whole simulated site (issue 5):
approvals by the zone's manager, check-in and check-out at the desk, carry-out inspections at
the door with their answer, overdue items (4-8-7(1), 4-8-5(4)(6)(7)).

Screenshots are kept in test-artifacts/dashboard/.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from gateway.domain import PersonKind
from gateway.records import RecordKind
from tests.dashboard.browser_support import api_as
from tests.dashboard.conftest import DashSite, DeskFactory, wait_record

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

VISITORS = '[data-panel="visitors"]'
MEDIA = '[data-panel="media"]'


def window(hours: float = 4) -> dict[str, str]:
    """A visit window from a minute ago for ``hours``."""
    now = datetime.now(UTC)
    return {
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_to": (now + timedelta(hours=hours)).isoformat(),
    }


async def test_a_visit_approved_checked_in_and_out_at_the_desk(
    dash: DashSite, desk_factory: DeskFactory
) -> None:
    host = await dash.h.add_person("Hana Host", "H10301:12:8001", pin="2468")
    escort = await dash.h.add_person("Eiji Escort", "H10301:12:8002", pin="2468")
    async with api_as(dash, "operator") as api:
        resp = await api.post(
            "/visits",
            json={
                "visitor": {"name": "Ito Mai", "organisation": "Example Systems Integrator"},
                "host_id": host,
                "purpose": "storage array firmware update",
                "zones": ["server-room"],
                **window(),
            },
        )
        assert resp.status_code == 201, resp.text
        visit = resp.json()
    # The zone's manager approves from the desk panel.
    manager = await desk_factory()
    await manager.login("manager")
    waiting = manager.page.locator(f'{VISITORS} [data-visit="{visit["id"]}"]')
    await expect(waiting).to_have_attribute("data-status", "requested")
    await expect(waiting).to_contain_text("Ito Mai")
    await expect(waiting).to_contain_text("Outsider")
    await expect(waiting).to_contain_text("Waiting for the manager of: Server room")
    await expect(waiting.locator('[data-action="check-in"]')).to_have_count(0)  # the desk's job
    await waiting.locator('[data-action="approve"]').click()
    dialog = manager.page.locator('dialog[data-dialog="visit"]')
    await expect(dialog.locator("h2")).to_have_text("Approve the visit of Ito Mai?")
    await dialog.get_by_role("button", name="Approve").click()
    await expect(waiting).to_have_attribute("data-status", "approved")

    # The desk checks the visitor in: document kind and last digits, badge, escort.
    operator = await desk_factory()
    await operator.login("operator")
    page = operator.page
    expected = page.locator(f'{VISITORS} [data-section="approved"] [data-visit="{visit["id"]}"]')
    await expect(expected).to_be_visible()
    await expected.locator('[data-action="check-in"]').click()
    form = page.locator('dialog[data-dialog="visit"]')
    await expect(form.locator("h2")).to_have_text("Check in Ito Mai")
    await form.get_by_label(re.compile("^Identity document")).select_option("passport")
    await form.get_by_label(re.compile("^Last digits")).fill(
        "T-1"
    )  # not digits or letters: refused here
    await form.get_by_label(re.compile("^Visitor badge")).fill("H10301:50:21")
    await form.get_by_label(re.compile("^Escort")).select_option(label="Eiji Escort")
    await form.get_by_role("button", name="Check in").click()
    await expect(form.locator(".error")).to_contain_text("Last digits of its number")
    await form.get_by_label(re.compile("^Last digits")).fill("7731")
    after = dash.h.last_seq
    await form.get_by_role("button", name="Check in").click()
    await expect(form).to_be_hidden()
    on_site = page.locator(f'{VISITORS} [data-section="checked_in"] [data-visit="{visit["id"]}"]')
    await expect(on_site).to_contain_text("Escort: Eiji Escort")
    await expect(on_site).to_contain_text("Badge: H10301:…21")
    await expect(on_site).to_contain_text("Checked in")
    _, rec = await wait_record(dash.h, lambda r: r.kind is RecordKind.VISIT_CHECKED_IN, after=after)
    assert rec.actor == "operator" and rec.person_kind == "visitor"
    await operator.shot("visitor-desk-en")
    # Check out: the badge handed back.
    await on_site.locator('[data-action="check-out"]').click()
    await expect(form.get_by_label("The badge was handed back")).to_be_checked()
    await form.get_by_role("button", name="Check out").click()
    await expect(page.locator(f'{VISITORS} [data-visit="{visit["id"]}"]')).to_have_count(0)
    async with api_as(dash, "auditor") as api:
        done = (await api.get(f"/visits/{visit['id']}")).json()
    assert (done["status"], done["credential_returned"], done["escort_id"]) == (
        "checked_out",
        True,
        escort,
    )


async def new_item(dash: DashSite, tag: str) -> dict[str, Any]:
    """An encrypted disk at home in the server room."""
    async with api_as(dash, "operator") as api:
        resp = await api.post(
            "/media/items",
            json={
                "kind": "hdd",
                "tag": tag,
                "classification": "confidential",
                "encrypted": True,
                "home_zone": "server-room",
                "home_location": "rack 4",
            },
        )
    assert resp.status_code == 201, resp.text
    item: dict[str, Any] = resp.json()
    return item


async def test_a_carry_out_approved_inspected_at_the_door_and_overdue(
    dash: DashSite, desk_factory: DeskFactory
) -> None:
    carrier = await dash.h.add_person("Sato Hanako", "H10301:12:8101", pin="2468")
    item = await new_item(dash, "DSK-0042")
    async with api_as(dash, "operator") as api:
        resp = await api.post(
            "/media/requests",
            json={
                "item_id": item["id"],
                "direction": "out",
                "person_id": carrier,
                "purpose": "vendor diagnosis",
                "destination": "vendor lab",
                "return_by": (datetime.now(UTC) + timedelta(seconds=8)).isoformat(),
            },
        )
        assert resp.status_code == 201, resp.text
        request = resp.json()
    manager = await desk_factory()
    await manager.login("manager")
    pending = manager.page.locator(f'{MEDIA} [data-request="{request["id"]}"]')
    await expect(pending).to_contain_text("DSK-0042 (Hard disk, confidential)")
    await expect(pending).to_contain_text("Carried by: Sato Hanako")
    await expect(pending.locator(".tag-direction")).to_have_text("Carry-out")
    await pending.locator('[data-action="approve"]').click()
    await (
        manager.page.locator('dialog[data-dialog="media"]')
        .get_by_role("button", name="Approve")
        .click()
    )
    await expect(pending).to_have_count(0)

    # The desk inspects it at the door: it may pass.
    operator = await desk_factory()
    await operator.login("operator")
    page = operator.page
    await expect(page.locator(f"{MEDIA} [data-action='inspect']")).to_be_visible()

    async def inspect(tag: str, result: str = "As it should be") -> None:
        await page.locator(f"{MEDIA} [data-action='inspect']").click()
        form = page.locator('dialog[data-dialog="media"]')
        await form.get_by_label(re.compile("^Asset tag")).fill(tag)
        await form.get_by_label("Carry-out", exact=True).check()
        await form.get_by_label(re.compile("^Zone")).select_option("server-room")
        await form.get_by_label(re.compile("^Who carries it")).select_option(
            label="Sato Hanako (Staff)"
        )
        await form.get_by_label(result, exact=True).check()
        await form.get_by_role("button", name="Record the inspection").click()
        await expect(form).to_be_hidden()

    await inspect("DSK-0042")
    notice = page.locator(f"{MEDIA} .panel-notice")
    await expect(notice).to_have_text("DSK-0042: may pass; the ledger has the movement.")
    async with api_as(dash, "auditor") as api:
        moved = (await api.get(f"/media/items/{item['id']}")).json()
        assert (moved["state"], moved["holder_id"]) == ("out", carrier)
        # Past its return date and not back: overdue (4-8-5(6)).
        deadline = time.monotonic() + 20
        while not any(i["id"] == item["id"] for i in (await api.get("/media/overdue")).json()):
            assert time.monotonic() < deadline, "never overdue"
            await asyncio.sleep(0.5)
    # An unregistered disk at the door is refused, and the panel redraws with the overdue item.
    await inspect("NO-SUCH-TAG")
    await expect(notice).to_have_text(
        "NO-SUCH-TAG: may NOT pass: not in the registry (unregistered media)."
    )
    overdue = page.locator(f'{MEDIA} [data-section="overdue"] [data-item="{item["id"]}"]')
    await expect(overdue).to_contain_text("DSK-0042")
    await expect(overdue.locator(".tag-alarm")).to_have_text("OVERDUE")
    await expect(overdue).to_contain_text("Holder: Sato Hanako")
    await operator.shot("media-desk-en")


async def test_roles_without_the_desks_see_no_desk_actions(
    dash: DashSite, desk_factory: DeskFactory
) -> None:
    visitor = await dash.h.add_person(
        "Yamada Taro", "H10301:12:8201", kind=PersonKind.VISITOR, zones=()
    )
    assert visitor
    auditor = await desk_factory()
    await auditor.login("auditor")
    for panel in (VISITORS, MEDIA):
        await expect(auditor.page.locator(panel)).to_have_count(1)
    for action in ("check-in", "check-out", "approve", "reject", "inspect", "confirm-second"):
        await expect(auditor.page.locator(f'[data-action="{action}"]')).to_have_count(0)
    admin = await desk_factory()
    await admin.login("admin")
    for panel in (VISITORS, MEDIA):
        await expect(admin.page.locator(panel)).to_have_count(0)
    # Japanese labels for the desks.
    await auditor.page.select_option("#lang-select", "ja")
    await expect(auditor.page.locator(f"{VISITORS} > h2")).to_have_text("来訪者受付")
    await expect(auditor.page.locator(f"{MEDIA} > h2")).to_have_text("媒体管理")
