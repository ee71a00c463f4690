"""Taking evidence, in a worker thread: a still or a clip out of a camera's ring buffer.

Never waits for a camera: the picture is whatever the ring holds nearest the moment. A picture
further than ``max_offset_s`` from the moment is no evidence of it, and a missing picture is
said so in the record (``missing``) rather than left out, so that the log shows for every event
whether a picture exists and why not.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime

from gateway.cameras import clip
from gateway.cameras.port import Camera
from gateway.cameras.store import EvidenceStore

log = logging.getLogger(__name__)


class EvidenceTaker:
    """Stills and clips from the cameras into the encrypted store; blocking calls."""

    def __init__(
        self, store: EvidenceStore, cameras: Mapping[str, Camera], max_offset_s: float
    ) -> None:
        """Take from ``cameras`` into ``store``."""
        self._store = store
        self._cameras = cameras
        self._max_offset_ns = int(max_offset_s * 1e9)

    def still(self, camera_id: str, at_ns: int, kind: str, ts: datetime) -> dict[str, object]:
        """Store the frame nearest ``at_ns`` for a record of ``kind`` stamped ``ts``.

        Returns ``{"snapshot": {...}}`` for the record's detail, or ``{"missing": why}``.
        """
        camera = self._cameras[camera_id]
        still = camera.still(at_ns)
        if still is None:
            return {"missing": "no picture buffered (the camera has delivered none)"}
        offset_ns = still.frame_ns - at_ns
        if abs(offset_ns) > self._max_offset_ns:
            condition = camera.stats().condition
            state = condition.value if condition is not None else "starting"
            return {
                "missing": f"nearest picture {offset_ns / 1e9:+.1f} s from the event "
                f"(camera {state})"
            }
        try:
            item = self._store.save(kind, camera_id, ts, "jpg", still.jpeg)
        except OSError as exc:
            log.error("camera %s: snapshot not stored: %s", camera_id, exc)  # noqa: TRY400 -- the cause is the message
            return {"missing": f"could not be stored: {exc.strerror or exc}"}
        return {
            "snapshot": {
                **item.as_detail(),
                "frame_ts": still.ts.isoformat(),
                "offset_ms": round(offset_ns / 1e6),
                "width": still.width,
                "height": still.height,
            }
        }

    def clip(
        self, camera_id: str, from_ns: int, to_ns: int, *, fps: float, kind: str, ts: datetime
    ) -> dict[str, object]:
        """Store the buffered frames of ``[from_ns, to_ns]`` as one clip (``{"clip": ...}``)."""
        max_frames = max(1, math.ceil((to_ns - from_ns) / 1e9 * fps))
        stills = self._cameras[camera_id].stills(from_ns, to_ns, max_frames)
        if not stills:
            return {"missing": "no pictures buffered for that time"}
        try:
            item = self._store.save(kind, camera_id, ts, "mjpeg", clip.pack(stills))
        except OSError as exc:
            log.error("camera %s: clip not stored: %s", camera_id, exc)  # noqa: TRY400 -- the cause is the message
            return {"missing": f"could not be stored: {exc.strerror or exc}"}
        return {
            "clip": {
                **item.as_detail(),
                "frames": len(stills),
                "from": stills[0].ts.isoformat(),
                "to": stills[-1].ts.isoformat(),
                "content_type": clip.CONTENT_TYPE,
            }
        }
