"""The site file's ``cameras:`` and ``camera_evidence:`` sections (4-8-7(1)(4), 4-8-6(10)).

A camera watches a door (tailgating: people crossing its door line into the door's zone are
counted against the grants of each opening), a zone (intrusion: motion while nobody is inside;
coverage of outsiders a zone lets in without an escort), or both. Its evidence settings say
whether decisions get a snapshot and which events also get a short clip.

    cameras:
      - id: sr-cam
        name: Server room door, inside
        source: rtsp://viewer:secret@192.0.2.10/stream1   # or http://.../mjpg, device:0, a file
        door: sr-door
        analysis: {door_line: 0.5, inside: up}
        evidence: {clips: alarms}
    camera_evidence: {dir: evidence, key_file: camera-evidence.key}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
_SOURCES = ("rtsp://", "rtsps://", "http://", "https://", "device:", "file:", "/")


class _Strict(BaseModel):
    """Unknown keys are an error, values are immutable (as everywhere in the site file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraStream(_Strict):
    """How the stream is read, buffered and supervised."""

    buffer_s: float = Field(default=5.0, ge=1, le=60)  # decoded frames kept (stills, clips)
    buffer_fps: float = Field(default=10.0, gt=0, le=60)  # at most this many kept per second
    open_timeout_s: float = Field(default=3.0, gt=0, le=60)
    read_timeout_s: float = Field(default=3.0, gt=0, le=60)
    offline_after_s: float = Field(default=3.0, gt=0, le=600)  # no frame this long: offline
    backoff_max_s: float = Field(default=10.0, ge=0.5, le=300)  # reconnect waits double up to this
    jpeg_quality: int = Field(default=85, ge=10, le=100)


class CameraPicture(_Strict):
    """When a picture is no picture: frozen, or blinded (covered, black, sprayed)."""

    frozen_after_s: float = Field(default=5.0, gt=0, le=600)
    frozen_diff: float = Field(default=0.1, ge=0, le=50)  # mean change (0-255) below: identical
    blinded_after_s: float = Field(default=3.0, gt=0, le=600)
    dark_level: float = Field(default=12.0, ge=0, le=255)  # mean brightness below: black
    min_contrast: float = Field(default=6.0, ge=0, le=128)  # standard deviation below: uniform
    clear_after_s: float = Field(default=1.0, gt=0, le=600)  # a good picture this long: ok again


class CameraAnalysis(_Strict):
    """Motion and door-line counting on a small grey copy of each frame."""

    width: int = Field(default=160, ge=32, le=1920)  # analysis width in pixels
    max_fps: float = Field(default=15.0, gt=0, le=60)  # frames analysed per second at most
    door_line: float | None = Field(default=None, gt=0, lt=1)  # share of height (or width)
    inside: Literal["up", "down", "left", "right"] = "up"  # the zone's side of the line
    line_band: float = Field(default=0.04, gt=0, lt=0.5)
    min_blob: float = Field(default=0.004, gt=0, lt=1)  # smallest person, share of the area
    max_jump: float = Field(default=0.25, gt=0, lt=1)
    motion_level: float = Field(default=0.004, gt=0, lt=1)  # moving share that is motion
    motion_quiet_s: float = Field(default=1.5, gt=0, le=60)
    var_threshold: float = Field(default=25.0, gt=0, le=1000)
    learning_rate: float = Field(default=0.02, gt=0, le=1)


class CameraEvidenceSettings(_Strict):
    """Which events this camera keeps pictures of."""

    decisions: bool = True  # a snapshot for every access decision at its door (or zone)
    alarms: bool = True  # a snapshot for every alarm at its door or zone
    clips: Literal["off", "alarms", "all"] = "alarms"  # a short clip too: alarms only, or all
    clip_before_s: float = Field(default=2.0, ge=0, le=30)
    clip_after_s: float = Field(default=2.0, ge=0, le=30)
    clip_fps: float = Field(default=4.0, gt=0, le=30)


class CameraTailgating(_Strict):
    """Counting people through the door against the grants of each opening."""

    enabled: bool = True
    settle_s: float = Field(default=1.5, ge=0, le=30)  # after the door closes, before judging


class CameraIntrusion(_Strict):
    """Motion in the zone while nobody is inside (4-8-7(4))."""

    enabled: bool = True
    grace_s: float = Field(default=10.0, ge=0, le=600)  # after a door of the zone closed
    repeat_s: float = Field(default=60.0, ge=1, le=86_400)  # at most one record per this


class CameraConfig(_Strict):
    """One camera."""

    id: Ident
    name: str = ""
    source: str = Field(min_length=1, max_length=1000)  # rtsp://, http(s)://, device:N, file
    door: Ident | None = None  # the door it looks at (tailgating; evidence of its decisions)
    zone: Ident | None = None  # the zone it watches; default: the door's zone
    stream: CameraStream = CameraStream()
    picture: CameraPicture = CameraPicture()
    analysis: CameraAnalysis = CameraAnalysis()
    evidence: CameraEvidenceSettings = CameraEvidenceSettings()
    tailgating: CameraTailgating = CameraTailgating()
    intrusion: CameraIntrusion = CameraIntrusion()

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        """A source OpenCV can open: a stream URL, device:N, or a file path."""
        if not (value.startswith(_SOURCES) or "://" not in value):
            raise ValueError("use rtsp://, http(s)://, device:N, file:PATH or a path")
        return value

    @model_validator(mode="after")
    def _watches_something(self) -> Self:
        """A camera watches a door or a zone; a counting camera needs its door line."""
        if self.door is None and self.zone is None:
            raise ValueError("a camera watches a door, a zone, or both")
        if self.door is not None and self.tailgating.enabled and self.analysis.door_line is None:
            raise ValueError(
                "analysis.door_line: a camera over a door counts people across the door line; "
                "give its position (or tailgating: {enabled: false})"
            )
        window = self.evidence.clip_before_s + self.evidence.clip_after_s
        if self.evidence.clips != "off" and window > self.stream.buffer_s - 0.5:
            raise ValueError(
                "evidence: clip_before_s + clip_after_s must fit in stream.buffer_s - 0.5 s"
            )
        return self


class CameraEvidenceStore(_Strict):
    """Where evidence is kept, encrypted at rest (4-8-6(10))."""

    dir: str = "evidence"  # relative to the data folder
    key_file: str = "camera-evidence.key"  # AES-256 key, 0600, created on first use
    max_offset_s: float = Field(default=2.0, gt=0, le=60)  # nearest frame further off: none


def check_cameras(
    cameras: Sequence[CameraConfig],
    *,
    doors: dict[str, str],
    zones: Iterable[str],
    monitored_zones: Iterable[tuple[int, str]],
) -> None:
    """Cross-references: ids unique, doors and zones known, monitored zones watched.

    ``doors`` maps door id to its zone; ``monitored_zones`` holds (index in ``zones:``, id) of
    the zones whose outsiders may be monitored by camera. Messages start with their path.
    """
    known_zones = set(zones)
    seen: set[str] = set()
    watched: set[str] = set()
    for i, cam in enumerate(cameras):
        if cam.id in seen:
            raise ValueError(f"cameras[{i}].id: {cam.id!r} appears twice")
        seen.add(cam.id)
        if cam.door is not None and cam.door not in doors:
            raise ValueError(f"cameras[{i}].door: unknown door {cam.door!r}")
        if cam.zone is not None and cam.zone not in known_zones:
            raise ValueError(f"cameras[{i}].zone: unknown zone {cam.zone!r}")
        watched.add(zone_of(cam, doors))
    for i, zone in monitored_zones:
        if zone not in watched:
            raise ValueError(
                f"zones[{i}].escort.monitored_by_camera: no camera watches zone {zone!r}"
            )


def zone_of(cam: CameraConfig, doors: dict[str, str]) -> str:
    """The zone a camera watches: its own, else its door's."""
    if cam.zone is not None:
        return cam.zone
    assert cam.door is not None  # validated: a camera watches a door or a zone
    return doors[cam.door]
