"""Settings of the camera driver: ring buffer, stream supervision, picture checks, analysis.

Plain frozen dataclasses so that the driver depends on no site-file schema; the composition
root fills them from the site file's ``cameras:`` section.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from devices.errors import ConfigurationRefused


class Inside(StrEnum):
    """Which side of the door line is inside the zone, as the camera sees it."""

    UP = "up"  # horizontal line; the zone is above it in the picture
    DOWN = "down"  # horizontal line; the zone is below it
    LEFT = "left"  # vertical line; the zone is to its left
    RIGHT = "right"  # vertical line; the zone is to its right


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How the stream is read, buffered and supervised."""

    buffer_s: float = 5.0  # seconds of decoded frames kept for stills and clips
    buffer_fps: float = 10.0  # at most this many frames per second are kept
    open_timeout_s: float = 3.0  # opening the stream gives up after this
    read_timeout_s: float = 3.0  # a read with no frame for this long ends the connection
    offline_after_s: float = 3.0  # no frame for this long: the camera is offline
    backoff_initial_s: float = 0.5  # first wait before reopening a lost stream
    backoff_max_s: float = 10.0  # waits double up to this
    jpeg_quality: int = 85  # stills
    loop_file: bool = True  # a file source starts over at its end (test footage)

    def check(self, camera_id: str) -> None:
        """ConfigurationRefused when the values cannot work together."""
        if not (self.buffer_s > 0 and self.buffer_fps > 0):
            raise ConfigurationRefused(f"camera {camera_id}: buffer_s and buffer_fps must be > 0")
        if not (self.open_timeout_s > 0 and self.read_timeout_s > 0 and self.offline_after_s > 0):
            raise ConfigurationRefused(f"camera {camera_id}: timeouts must be > 0")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ConfigurationRefused(
                f"camera {camera_id}: need 0 < backoff_initial_s <= backoff_max_s"
            )
        if not 10 <= self.jpeg_quality <= 100:
            raise ConfigurationRefused(f"camera {camera_id}: jpeg_quality must be 10..100")


@dataclass(frozen=True, slots=True)
class PictureSettings:
    """When a picture that arrives is still no picture: frozen, or blinded (4-8-7(4))."""

    frozen_after_s: float = 5.0  # identical frames for this long: frozen
    frozen_diff: float = 0.1  # mean absolute difference (0-255) below which frames are identical
    blinded_after_s: float = 3.0  # a dark or featureless picture for this long: blinded
    dark_level: float = 12.0  # mean brightness (0-255) below this: black, lens covered
    min_contrast: float = 6.0  # standard deviation below this: uniform (covered, sprayed)
    clear_after_s: float = 1.0  # a good picture for this long ends a fault

    def check(self, camera_id: str) -> None:
        """ConfigurationRefused when a value is out of range."""
        if min(self.frozen_after_s, self.blinded_after_s, self.clear_after_s) <= 0:
            raise ConfigurationRefused(f"camera {camera_id}: picture check times must be > 0")
        if self.frozen_diff < 0 or self.dark_level < 0 or self.min_contrast < 0:
            raise ConfigurationRefused(f"camera {camera_id}: picture thresholds must be >= 0")


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Motion and door-line counting, done on a small grey copy of each frame."""

    width: int = 160  # analysis width in pixels (height keeps the aspect ratio)
    max_fps: float = 15.0  # frames analysed per second at most (others only buffered)
    door_line: float | None = None  # where the door line is, as a share of height or width
    inside: Inside = Inside.UP  # which side of the line the zone is on
    line_band: float = 0.04  # dead band either side of the line (share of the picture)
    min_blob: float = 0.004  # smallest moving blob counted as a person (share of the area)
    max_jump: float = 0.25  # a blob moving further than this between frames is someone else
    motion_level: float = 0.004  # moving share of the picture that counts as motion
    motion_quiet_s: float = 1.5  # motion ends after this long below the level
    var_threshold: float = 25.0  # background model sensitivity (MOG2 variance threshold)
    learning_rate: float = 0.02  # how fast the background follows slow changes
    warmup_frames: int = 10  # frames to learn the background before judging motion

    def check(self, camera_id: str) -> None:
        """ConfigurationRefused when a value is out of range."""
        if not 32 <= self.width <= 1920:
            raise ConfigurationRefused(f"camera {camera_id}: analysis width must be 32..1920")
        if self.max_fps <= 0:
            raise ConfigurationRefused(f"camera {camera_id}: analysis max_fps must be > 0")
        if self.door_line is not None and not 0 < self.door_line < 1:
            raise ConfigurationRefused(f"camera {camera_id}: door_line must be between 0 and 1")
        shares = (self.line_band, self.min_blob, self.max_jump, self.motion_level)
        if not all(0 < s < 1 for s in shares):
            raise ConfigurationRefused(
                f"camera {camera_id}: line_band, min_blob, max_jump, motion_level must be in (0, 1)"
            )
        if not (0 < self.learning_rate <= 1 and self.var_threshold > 0 and self.warmup_frames >= 0):
            raise ConfigurationRefused(f"camera {camera_id}: background model settings invalid")
