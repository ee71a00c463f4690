"""The site file's ``cameras:`` section and the escort option "monitored by camera"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config.load import ConfigError, parse_site

BASE: dict[str, Any] = {
    "site": {"id": "hq", "name": "HQ"},
    "modules": [{"id": "io1"}],
    "readers": [{"id": "r1", "kind": "rdm6300", "port": "/dev/null"}],
    "zones": [
        {"id": "srv", "name": "Server room"},
        {"id": "hall", "name": "Hall", "kind": "other"},
    ],
    "doors": [
        {
            "id": "d1",
            "name": "Server room door",
            "zone": "srv",
            "entry_reader": "r1",
            "module": "io1",
            "strike_output": 0,
            "contact_input": 0,
        }
    ],
}
CAMERA = {
    "id": "cam1",
    "source": "http://127.0.0.1:8081/stream.mjpg",
    "door": "d1",
    "analysis": {"door_line": 0.5},
}


def parse(**changes: Any) -> Any:
    """The base site with top-level sections replaced."""
    return parse_site(yaml.safe_dump({**BASE, **changes}), Path("site.yaml"))


def test_a_camera_over_a_door_watches_the_doors_zone() -> None:
    site = parse(cameras=[CAMERA])
    (cam,) = site.cameras
    assert (cam.door, cam.zone, cam.analysis.inside) == ("d1", None, "up")
    assert cam.evidence.clips == "alarms" and cam.evidence.decisions
    assert site.camera_evidence.dir == "evidence"


@pytest.mark.parametrize(
    ("camera", "expected"),
    [
        ({**CAMERA, "door": "nope"}, r"cameras\[0\]\.door"),
        ({**CAMERA, "zone": "nope"}, r"cameras\[0\]\.zone"),
        ({"id": "cam1", "source": "device:0"}, "watches a door, a zone"),
        ({**CAMERA, "analysis": {}}, "door_line"),
        ({**CAMERA, "source": "ftp://x/y"}, "rtsp://"),
        ({**CAMERA, "source": ""}, "source"),
        ({**CAMERA, "analysis": {"door_line": 1.5}}, "door_line"),
        ({**CAMERA, "evidence": {"clip_before_s": 5, "clip_after_s": 5}}, "buffer_s"),
        ({**CAMERA, "colour": "red"}, "colour"),
    ],
)
def test_bad_cameras_are_refused_with_their_path(camera: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse(cameras=[camera])


def test_camera_ids_are_unique() -> None:
    with pytest.raises(ConfigError, match=r"cameras\[1\]\.id"):
        parse(cameras=[CAMERA, CAMERA])


def test_a_door_camera_without_counting_needs_no_door_line() -> None:
    cam = {**CAMERA, "analysis": {}, "tailgating": {"enabled": False}}
    assert parse(cameras=[cam]).cameras[0].analysis.door_line is None


def test_a_zone_monitored_by_camera_needs_a_camera_watching_it() -> None:
    zones = [
        {"id": "srv", "name": "Server room", "escort": {"monitored_by_camera": True}},
        {"id": "hall", "name": "Hall", "kind": "other"},
    ]
    with pytest.raises(ConfigError, match=r"zones\[0\]\.escort\.monitored_by_camera"):
        parse(zones=zones)
    site = parse(zones=zones, cameras=[CAMERA])
    assert site.zones[0].escort.monitored_by_camera
    with pytest.raises(ConfigError, match=r"zones\[0\]\.escort\.monitored_by_camera"):
        parse(zones=zones, cameras=[{"id": "c2", "source": "device:0", "zone": "hall"}])
