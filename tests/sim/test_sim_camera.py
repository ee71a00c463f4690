"""The simulated doorway camera: MJPEG over HTTP on loopback, its scene and its actions,
in a sim site with its control surface and ``sekisho sim camera`` (the other side of the wire).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from typer.testing import CliRunner, Result

from sekisho_sim.camera import BOUNDARY, SimCamera, SimCameraError, SimCameraSpec
from sekisho_sim.cli import app
from sekisho_sim.site import SimSite, SiteError, UnknownDevice
from sekisho_sim.spec import SpecError, load_spec, parse_spec

SPEC = """
modules:
  - id: io1
    doors:
      - {id: sr-door, strike_coil: 0, contact_input: 0}
cameras:
  - {id: sr-cam, door: sr-door, fps: 10}
"""


def decode(jpeg: bytes) -> np.ndarray:
    """A JPEG as a BGR image."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


async def read_parts(url: str, count: int) -> list[bytes]:
    """The first ``count`` JPEG parts of an MJPEG stream, parsed from the raw bytes."""
    parts: list[bytes] = []
    buf = b""
    async with httpx.AsyncClient(timeout=20) as client, client.stream("GET", url) as resp:
        assert resp.status_code == 200
        assert (
            resp.headers["content-type"]
            == f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}"
        )
        async for chunk in resp.aiter_bytes():
            buf += chunk
            while True:
                head_end = buf.find(b"\r\n\r\n")
                if not buf.startswith(b"--" + BOUNDARY) or head_end < 0:
                    break
                headers = buf[:head_end].decode().split("\r\n")
                length = int(
                    next(h for h in headers if h.startswith("Content-Length")).split(":")[1]
                )
                start = head_end + 4
                if len(buf) < start + length + 2:
                    break
                parts.append(buf[start : start + length])
                buf = buf[start + length + 2 :]
            if len(parts) >= count:
                return parts[:count]
    return parts


@pytest.fixture
async def cam() -> AsyncIterator[SimCamera]:
    """A started camera on a free port."""
    c = SimCamera(SimCameraSpec("sr-cam", seed=11))
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def test_the_stream_is_multipart_jpeg_at_the_frame_rate(cam: SimCamera) -> None:
    parts = await read_parts(cam.url, 5)
    assert len(parts) == 5
    images = [decode(p) for p in parts]
    assert all(i.shape == (240, 320, 3) for i in images)
    assert len(set(parts)) == 5  # sensor noise: no two frames alike
    assert cam.view()["frames"] >= 5


async def test_a_snapshot_and_unknown_paths(cam: SimCamera) -> None:
    base = cam.url.rsplit("/", 1)[0]
    async with httpx.AsyncClient(timeout=20) as client:
        snap = await client.get(f"{base}/snapshot.jpg")
        assert snap.headers["content-type"] == "image/jpeg"
        assert decode(snap.content).shape == (240, 320, 3)
        assert (await client.get(f"{base}/admin")).status_code == 404


async def test_covered_sprayed_and_frozen_pictures(cam: SimCamera) -> None:
    cam.cover()
    (dark,) = await read_parts(cam.url, 1)
    assert decode(dark).mean() < 10
    cam.cover(covered=False)
    cam.spray()
    await asyncio.sleep(0.3)
    (hazy,) = await read_parts(cam.url, 1)
    assert decode(hazy).std() < 5
    cam.spray(sprayed=False)
    cam.freeze()
    await asyncio.sleep(0.3)
    frozen = await read_parts(cam.url, 3)
    assert len(set(frozen)) == 1  # the very same bytes again and again
    cam.freeze(frozen=False)
    await asyncio.sleep(0.3)
    assert len(set(await read_parts(cam.url, 3))) == 3


async def test_a_stopped_stream_refuses_and_starts_again_on_the_same_port(cam: SimCamera) -> None:
    port = cam.port
    await cam.stop_stream()
    assert not cam.streaming
    with pytest.raises(httpx.ConnectError):
        await read_parts(cam.url, 1)
    await cam.start_stream()
    assert cam.port == port
    assert len(await read_parts(cam.url, 1)) == 1


def test_walkers_cross_the_threshold_and_are_counted_when_through() -> None:
    c = SimCamera(SimCameraSpec("c", walk_s=2.0, spacing_s=1.0))
    assert c.walk(2) == pytest.approx(3.0)
    assert c.busy
    t0 = next(f.start for f in c._figures)  # the walkers' own schedule

    def doorway(t: float) -> float:
        """Mean brightness of the doorway around the door line (y = 120) at time ``t``."""
        return float(c.render(t)[100:140, 140:180].mean())

    empty = doorway(t0 - 5)
    assert abs(doorway(t0 + 0.2) - empty) < 10  # the first one is not there yet
    assert doorway(t0 + 1.0) < empty - 20  # a dark figure on the threshold
    c._retire(t0 + 10)  # as the renderer does once they are through
    assert c.view()["walking"] == 0 and c.view()["walked_in"] == 2


@pytest.mark.parametrize(
    "act",
    [
        lambda c: c.walk(0),
        lambda c: c.walk(21),
        lambda c: c.walk(1, spacing_s=0.01),
        lambda c: c.wander(0.1),
        lambda c: c.wander(10_000),
    ],
)
def test_impossible_actions_are_refused(act: object) -> None:
    with pytest.raises(SimCameraError):
        act(SimCamera(SimCameraSpec("c")))  # type: ignore[operator]  # each case is callable


def test_a_camera_needs_a_usable_size_and_rate() -> None:
    with pytest.raises(SimCameraError):
        SimCamera(SimCameraSpec("c", width=10))
    with pytest.raises(SimCameraError):
        SimCamera(SimCameraSpec("c", fps=0))


def test_the_spec_checks_camera_doors_and_ids(tmp_path: Path) -> None:
    bad_door = SPEC.replace("door: sr-door, fps", "door: nope, fps")
    with pytest.raises(SpecError, match="nope"):
        parse_spec(bad_door, tmp_path / "sim.yaml")
    twice = SPEC + "  - {id: sr-cam}\n"
    with pytest.raises(SpecError, match="camera id"):
        parse_spec(twice, tmp_path / "sim.yaml")


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SimSite]:
    """A started sim site with one camera."""
    (tmp_path / "sim.yaml").write_text(SPEC)
    s = SimSite(load_spec(tmp_path / "sim.yaml"))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def test_the_site_runs_its_camera_and_says_where(site: SimSite, tmp_path: Path) -> None:
    control = json.loads((tmp_path / "sim-control.json").read_text())
    assert control["cameras"] == {"sr-cam": site.camera_url("sr-cam")}
    listed = site.describe()["cameras"]
    assert listed[0]["camera"] == "sr-cam" and listed[0]["door"] == "sr-door"
    assert len(await read_parts(site.camera_url("sr-cam"), 1)) == 1


async def test_the_control_surface_acts_on_cameras(site: SimSite) -> None:
    async with httpx.AsyncClient(base_url=site.url, timeout=20) as http:
        walked = await http.post(
            "/camera", json={"camera": "sr-cam", "action": "walk", "people": 2}
        )
        assert walked.status_code == 200
        assert walked.json()["done_in_s"] == pytest.approx(3.0)
        assert walked.json()["view"]["walking"] == 2
        covered = await http.post("/camera", json={"camera": "sr-cam", "action": "cover"})
        assert covered.json()["view"]["covered"] is True
        stopped = await http.post("/camera", json={"camera": "sr-cam", "action": "stop"})
        assert stopped.json()["view"]["streaming"] is False
        assert (await http.get("/cameras/sr-cam")).json()["streaming"] is False
        await http.post("/camera", json={"camera": "sr-cam", "action": "start"})
        assert (await http.get("/cameras/sr-cam")).json()["streaming"] is True
        unknown = await http.post("/camera", json={"camera": "nope", "action": "cover"})
        assert unknown.status_code == 404 and "sr-cam" in unknown.json()["error"]
        bad = await http.post("/camera", json={"camera": "sr-cam", "action": "explode"})
        assert bad.status_code == 400 and "walk|wander" in bad.json()["error"]
        refused = await http.post(
            "/camera", json={"camera": "sr-cam", "action": "walk", "people": 99}
        )
        assert refused.status_code == 400
        extra = await http.post("/camera", json={"camera": "sr-cam", "action": "cover", "x": 1})
        assert extra.status_code == 400


async def test_site_errors_name_the_camera(site: SimSite) -> None:
    with pytest.raises(UnknownDevice):
        site.camera_view("nope")
    with pytest.raises(SiteError, match="unknown camera action"):
        await site.camera("sr-cam", "dance")


async def cli(*args: str) -> Result:
    """Run ``sekisho sim`` in a worker thread (the site answers on this loop)."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_the_cli_walks_covers_and_stops(site: SimSite, tmp_path: Path) -> None:
    d = ("--data-dir", str(tmp_path))
    walked = await cli("camera", "sr-cam", "walk", "--people", "2", *d)
    assert walked.exit_code == 0, walked.output
    assert "2 walking in" in walked.stdout
    covered = await cli("camera", "sr-cam", "cover", *d)
    assert "covered" in covered.stdout
    stopped = await cli("camera", "sr-cam", "stop", *d)
    assert "stopped" in stopped.stdout
    listed = await cli("list", *d)
    assert "sr-cam" in listed.stdout and "STOPPED" in listed.stdout
    bad = await cli("camera", "sr-cam", "explode", *d)
    assert bad.exit_code == 1 and bad.stderr.startswith("error: unknown camera action")
