"""The camera API on the simulated site: who may look, and every look is recorded (4-8-6(10)).

A real gateway with its simulated door camera read over MJPEG by the OpenCV driver, the real
record log (SQLite) and the app over ASGI: the admin gets 403, a caller without a token 401;
a permitted view of a live picture or of kept evidence is written to the log (``camera.viewed``:
who, which camera, which picture) before the picture is sent, and evidence is served only when
it decrypts to the SHA-256 its record holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import pytest_asyncio
from sqlmodel import Session

from api.accounts import create_account
from api.app import create_app
from gateway.records import NewRecord
from gateway.records import RecordKind as K
from sekisho.simulated import SimulatedSite, start_simulated_site, stop_simulated_site
from tests.api.api_env import PASSWORD, ROLES, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

CARD, PIN = "H10301:12:1001", "2468"
WAIT = 30.0


class Env:
    """The running site, the app's client and a token per role."""

    def __init__(self, site: SimulatedSite, client: httpx.AsyncClient) -> None:
        self.site = site
        self.client = client
        self.tokens: dict[str, str] = {}

    def auth(self, role: str) -> dict[str, str]:
        """The Authorization header of the role's account."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    """The demo site with its camera, and the API around it with one account per role."""
    site = await start_simulated_site(tmp_path_factory.mktemp("cam-api") / "site", cameras=True)
    assert site.cameras is not None and site.stack is not None
    try:
        await site.wait_until(
            lambda: site.gateway.camera_watch("server-room") == ("sr-cam",), within=WAIT
        )
        with Session(site.engine) as session:
            for role in ROLES:
                zones = ("server-room",) if role == "manager" else ()
                create_account(session, site.config.site.id, role, PASSWORD, role, zones=zones)
        app = create_app(
            settings=make_settings(),
            engine=site.engine,
            core=site.gateway,
            alarms=site.stack.alarms,
            incidents=site.stack.incidents,
            cameras=site.cameras,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sekisho.test") as c:
            e = Env(site, c)
            for role in ROLES:
                resp = await c.post(
                    "/api/v1/auth/token", data={"username": role, "password": PASSWORD}
                )
                assert resp.status_code == 200, resp.text
                e.tokens[role] = resp.json()["access_token"]
            await site.add_person("Sato Hanako", CARD, pin=PIN)
            yield e
    finally:
        await stop_simulated_site(site)


def views(env: Env, after: int) -> list[tuple[int, NewRecord]]:
    """The ``camera.viewed`` records committed after ``after``."""
    return [(s, r) for s, r in env.site.written if s > after and r.kind is K.CAMERA_VIEWED]


def health(env: Env) -> str:
    """The camera's condition as the service reports it (what the list route serves)."""
    assert env.site.cameras is not None
    return env.site.cameras.statuses()[0].condition


def flip_a_byte(path: Path) -> None:
    """Alter one byte of a file (as an intruder with disk access might)."""
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0xFF
    path.write_bytes(bytes(blob))


def remove(path: Path) -> None:
    """Delete a file."""
    path.unlink()


async def snapshot_of_a_grant(env: Env) -> tuple[int, int, dict[str, object]]:
    """Badge in; the grant's seq, its snapshot record's seq, and the snapshot's detail."""
    seq, rec = await env.site.badge("sr-in", CARD, PIN)
    assert rec.outcome == "granted"
    snap_seq, snap = await env.site.wait_record(
        lambda r: r.kind is K.CAMERA_SNAPSHOT and r.detail.get("for_seq") == seq,
        after=seq,
        within=WAIT,
    )
    found = snap.detail["snapshot"]
    assert isinstance(found, dict)
    return seq, snap_seq, found


@pytest.mark.parametrize(
    "path",
    ["/api/v1/cameras", "/api/v1/cameras/sr-cam/snapshot", "/api/v1/evidence/1"],
)
async def test_the_admin_sees_no_camera_and_nobody_without_a_token(env: Env, path: str) -> None:
    after = env.site.last_seq
    assert (await env.client.get(path, headers=env.auth("admin"))).status_code == 403
    assert (await env.client.get(path)).status_code == 401
    assert views(env, after) == []


async def test_the_desk_lists_cameras_with_their_health(env: Env) -> None:
    resp = await env.client.get("/api/v1/cameras", headers=env.auth("auditor"))
    assert resp.status_code == 200
    (cam,) = resp.json()
    assert (cam["camera_id"], cam["door_id"], cam["zone_id"]) == (
        "sr-cam",
        "sr-door",
        "server-room",
    )
    assert cam["frames"] > 0 and cam["width"] == 320 and cam["reconnects"] >= 0
    await env.site.sim.camera("sr-cam", "cover")
    try:
        await env.site.wait_until(lambda: health(env) == "blinded", within=WAIT, what="blinded")
    finally:
        await env.site.sim.camera("sr-cam", "uncover")
    await env.site.wait_until(lambda: health(env) == "ok", within=WAIT, what="ok again")
    resp = await env.client.get("/api/v1/cameras", headers=env.auth("auditor"))
    assert resp.json()[0]["condition"] == "ok" and resp.json()[0]["fps"] > 0


async def test_a_live_view_is_recorded_before_the_picture_is_sent(env: Env) -> None:
    after = env.site.last_seq
    resp = await env.client.get("/api/v1/cameras/sr-cam/snapshot", headers=env.auth("operator"))
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["cache-control"] == "no-store"
    image = cv2.imdecode(np.frombuffer(resp.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (240, 320, 3)
    ((seq, rec),) = views(env, after)
    assert str(seq) == resp.headers["x-view-record"]
    assert rec.actor == "operator"
    assert rec.detail == {"what": "live", "camera": "sr-cam"}


async def test_an_unknown_camera_is_404(env: Env) -> None:
    resp = await env.client.get("/api/v1/cameras/nope/snapshot", headers=env.auth("chief"))
    assert resp.status_code == 404


async def test_kept_evidence_is_listed_fetched_checked_and_the_view_recorded(env: Env) -> None:
    seq, snap_seq, found = await snapshot_of_a_grant(env)
    listed = await env.client.get(f"/api/v1/evidence/{seq}", headers=env.auth("auditor"))
    assert listed.status_code == 200
    (ref,) = [r for r in listed.json() if r["item"] == "snapshot"]
    assert (ref["seq"], ref["for_seq"], ref["camera_id"]) == (snap_seq, seq, "sr-cam")
    assert ref["sha256"] == found["sha256"]
    after = env.site.last_seq
    resp = await env.client.get(
        f"/api/v1/evidence/{snap_seq}/snapshot", headers=env.auth("manager")
    )
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(resp.content).hexdigest() == found["sha256"]
    assert resp.headers["x-content-sha256"] == found["sha256"]
    ((_, rec),) = views(env, after)
    assert rec.actor == "manager"
    assert rec.detail == {
        "what": "snapshot",
        "camera": "sr-cam",
        "evidence_seq": snap_seq,
        "sha256": found["sha256"],
    }
    nothing = await env.client.get(f"/api/v1/evidence/{snap_seq}/clip", headers=env.auth("chief"))
    assert nothing.status_code == 404  # a snapshot record names no clip
    assert (
        await env.client.get("/api/v1/evidence/999999", headers=env.auth("chief"))
    ).status_code == 404


async def test_altered_evidence_is_refused_and_not_counted_as_viewed(env: Env) -> None:
    _, snap_seq, found = await snapshot_of_a_grant(env)
    assert env.site.cameras is not None
    path: Path = env.site.cameras.store.root / str(found["file"])
    flip_a_byte(path)
    after = env.site.last_seq
    resp = await env.client.get(f"/api/v1/evidence/{snap_seq}/snapshot", headers=env.auth("chief"))
    assert resp.status_code == 409 and "does not match" in resp.json()["detail"]
    remove(path)
    gone = await env.client.get(f"/api/v1/evidence/{snap_seq}/snapshot", headers=env.auth("chief"))
    assert gone.status_code == 410
    assert views(env, after) == []
