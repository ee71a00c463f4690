"""A record's camera snapshot in the dashboard's record detail (issue 7, 4-8-7(4)), on the whole
simulated site with its door camera: listed with the record, shown only when asked for, and
every view recorded by the API before the picture is sent (4-8-6(10)).
"""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from gateway.records import RecordKind
from tests.dashboard.conftest import DashSite, Desk, wait_record

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

CAMERAS = True  # the dash fixture starts the simulated door camera for this module


async def test_a_denied_badge_has_a_snapshot_shown_on_request_and_the_view_recorded(
    dash: DashSite, desk: Desk
) -> None:
    await desk.login("operator")
    page = desk.page
    seq, rec = await dash.h.badge("sr-in", "H10301:99:4242")
    assert rec.outcome == "denied"
    snap_seq, _ = await wait_record(
        dash.h,
        lambda r: r.kind is RecordKind.CAMERA_SNAPSHOT and r.detail.get("for_seq") == seq,
        after=seq,
        timeout=20,
    )
    await page.locator(f'.event-row[data-seq="{seq}"]').click()
    dialog = page.locator('dialog[data-dialog="event"]')
    evidence = dialog.locator(".evidence")
    await expect(evidence.locator("h3")).to_have_text("Camera pictures")
    item = evidence.locator(f'.evidence-item[data-item="snapshot"][data-ref="{snap_seq}"]')
    await expect(item).to_contain_text("Snapshot, camera sr-cam")
    await expect(item).to_contain_text("Looking at it is recorded with your name.")
    # Nothing is fetched, and nothing recorded, until the operator asks.
    assert not [r for s, r in dash.h.written if s > snap_seq and r.kind is RecordKind.CAMERA_VIEWED]
    after = dash.h.last_seq
    await item.locator('[data-action="view-picture"]').click()
    canvas = item.locator("canvas.evidence-picture")
    await expect(canvas).to_be_visible()
    await expect(canvas).to_have_attribute("role", "img")
    size = await canvas.evaluate("c => [c.width, c.height]")
    assert size == [320, 240], size
    # The picture is really drawn: not a blank canvas.
    inked = await canvas.evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height)"
        ".data.some((v, i) => i % 4 < 3 && v > 0)"
    )
    assert inked
    _, viewed = await wait_record(dash.h, lambda r: r.kind is RecordKind.CAMERA_VIEWED, after=after)
    assert viewed.actor == "operator"
    assert viewed.detail.get("evidence_seq") == snap_seq, viewed.detail
    await desk.shot("record-snapshot-en")
    # The picture goes with the dialog.
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(dialog.locator("canvas")).to_have_count(0)
