"""Camera faults as the log knows them: offline, frozen or blinded, and back (4-8-7(4)).

``FaultBook`` turns a camera's condition changes into the records to write — one
``camera.fault`` per fault (again when the fault changes kind) and one ``camera.fault_cleared``
when the picture is good again — remembering what the log already says, also across a restart
(``faults_in_log``), so that a fault that ended while the gateway was down is cleared.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, select

from gateway.events import CameraCondition
from gateway.records import RecordKind
from gateway.storage.models import RECORD_TABLE

K = RecordKind


def faults_in_log(engine: Engine, site_id: str) -> dict[str, str | None]:
    """Per camera, the fault its last fault record says is not cleared (None: cleared)."""
    r = RECORD_TABLE
    stmt = (
        select(r.c.kind, r.c.detail)
        .where(
            r.c.site_id == site_id,
            r.c.kind.in_((K.CAMERA_FAULT.value, K.CAMERA_FAULT_CLEARED.value)),
        )
        .order_by(r.c.seq.desc())
        .limit(10_000)
    )
    out: dict[str, str | None] = {}
    with engine.connect() as conn:
        for kind, detail in conn.execute(stmt):
            cam = detail.get("camera") if isinstance(detail, dict) else None
            if not isinstance(cam, str) or cam in out:
                continue
            fault = detail.get("fault")
            out[cam] = str(fault) if kind == K.CAMERA_FAULT.value and fault else None
    return out


class FaultBook:
    """The fault each camera has on record, and what a new condition must write."""

    def __init__(self, cameras: Iterable[str]) -> None:
        """No fault on record for any camera."""
        self._faulted: dict[str, str | None] = dict.fromkeys(cameras)

    def restore(self, from_log: dict[str, str | None]) -> None:
        """Take over what the log says (at start)."""
        for cam, fault in from_log.items():
            if cam in self._faulted:
                self._faulted[cam] = fault

    def faulted(self, camera_id: str) -> str | None:
        """The fault on record for a camera (None: none)."""
        return self._faulted.get(camera_id)

    def change(
        self, camera_id: str, condition: CameraCondition, detail: str
    ) -> tuple[RecordKind, dict[str, object]] | None:
        """The record a condition change needs (kind, detail), or None when nothing changes."""
        out: dict[str, object] = {"camera": camera_id, "detail": detail}
        was = self._faulted.get(camera_id)
        if condition is CameraCondition.OK:
            if was is None:
                return None
            self._faulted[camera_id] = None
            return K.CAMERA_FAULT_CLEARED, {**out, "was": was}
        if was == condition.value:
            return None
        self._faulted[camera_id] = condition.value
        return K.CAMERA_FAULT, {**out, "fault": condition.value}
