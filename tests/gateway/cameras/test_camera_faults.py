"""Camera fault records: one per fault, one when cleared, remembered across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from gateway.cameras.faults import FaultBook, faults_in_log
from gateway.events import CameraCondition as C
from gateway.records import NewRecord
from gateway.records import RecordKind as K
from gateway.storage.record_log import RecordLog

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def changed(book: FaultBook, cam: str, condition: C, detail: str) -> tuple[K, dict[str, object]]:
    """The record a change needs (asserting there is one)."""
    change = book.change(cam, condition, detail)
    assert change is not None
    return change


def test_one_record_per_fault_and_one_when_it_clears() -> None:
    book = FaultBook(["cam"])
    assert book.change("cam", C.OK, "fine") is None  # nothing to clear
    kind, detail = changed(book, "cam", C.BLINDED, "black")
    assert kind is K.CAMERA_FAULT
    assert detail == {"camera": "cam", "detail": "black", "fault": "blinded"}
    assert book.change("cam", C.BLINDED, "still black") is None
    kind, detail = changed(book, "cam", C.OFFLINE, "gone")
    assert kind is K.CAMERA_FAULT and detail["fault"] == "offline"  # the fault changed kind
    kind, detail = changed(book, "cam", C.OK, "back")
    assert kind is K.CAMERA_FAULT_CLEARED and detail["was"] == "offline"
    assert book.faulted("cam") is None


@pytest.fixture
def log(engine: Engine) -> Iterator[RecordLog]:
    """A started record log."""
    started = RecordLog(engine, "hq")
    started.start()
    yield started
    started.close(timeout=30)


def test_the_log_tells_which_faults_are_still_open(engine: Engine, log: RecordLog) -> None:
    records: list[tuple[K, dict[str, object]]] = [
        (K.CAMERA_FAULT, {"camera": "a", "fault": "offline"}),
        (K.CAMERA_FAULT, {"camera": "b", "fault": "frozen"}),
        (K.CAMERA_FAULT_CLEARED, {"camera": "a", "was": "offline"}),
        (K.CAMERA_FAULT, {"camera": "b", "fault": "blinded"}),
    ]
    for kind, detail in records:
        log.submit(NewRecord(kind, T0, detail=detail)).result(30)
    found = faults_in_log(engine, "hq")
    assert found == {"a": None, "b": "blinded"}
    book = FaultBook(["a", "b", "c"])
    book.restore(found)
    # b's fault ended while the gateway was down: its first good picture clears it
    kind, cleared = changed(book, "b", C.OK, "back")
    assert kind is K.CAMERA_FAULT_CLEARED and cleared["was"] == "blinded"
    assert book.change("a", C.OK, "fine") is None
