"""A record's camera snapshot in the dashboard's record detail (issue 7, 4-8-7(4)), on the whole
simulated site with its door camera: listed with the record, shown only when asked for, and
every view recorded by the API before the picture is sent (4-8-6(10)); and the camera list,
where a covered lens shows as blinded as soon as the fault is recorded.
"""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from gateway.records import RecordKind
from tests.dashboard.browser_support import CONTRAST_CHECK
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


async def test_the_camera_list_shows_a_covered_camera_as_blinded(
    dash: DashSite, desk: Desk
) -> None:
    await desk.login("operator")
    page = desk.page
    panel = page.locator('[data-panel="cameras"]')
    await expect(panel.locator("h2")).to_have_text("Cameras")
    camera = panel.locator('.camera[data-camera="sr-cam"]')
    await expect(camera).to_have_attribute("data-condition", "ok", timeout=30_000)
    await expect(camera).to_contain_text("Door: Server room door")
    await expect(panel.locator(".camera-summary")).to_have_text("All working (1).")
    after = dash.h.last_seq
    lens = dash.h.sim.sim_camera("sr-cam")
    lens.cover()
    try:
        fault, _ = await wait_record(
            dash.h,
            lambda r: r.kind is RecordKind.CAMERA_FAULT and r.detail.get("fault") == "blinded",
            after=after,
            timeout=30,
        )
        # From the live stream's record, well before the 30 s poll.
        await expect(camera).to_have_attribute("data-condition", "blinded", timeout=5_000)
        await expect(camera).to_contain_text("Blinded (lens covered)")
        await expect(camera).to_have_class("camera is-faulty")
        await expect(panel.locator(".camera-summary")).to_have_text("Not working: 1 of 1.")
        low = await page.evaluate(CONTRAST_CHECK)
        assert low == [], low
        await desk.shot("cameras-blinded-en")
        await page.select_option("#lang-select", "ja")
        await expect(camera).to_contain_text("遮蔽（レンズが覆われている）")
        await page.select_option("#lang-select", "en")
    finally:
        lens.cover(covered=False)
    await wait_record(
        dash.h,
        lambda r: r.kind is RecordKind.CAMERA_FAULT_CLEARED and r.detail.get("was") == "blinded",
        after=fault,
        timeout=30,
    )
    await expect(camera).to_have_attribute("data-condition", "ok", timeout=5_000)
