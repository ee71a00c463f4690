"""The badge path: card in → decision → durable record → strike released → reader feedback.

Clauses 4-8-7(1) (every entry and exit recorded with person, credential, door, direction,
decision and reason) and 4-8-7(3) (card+PIN, lock-out). A grant is committed to the log BEFORE
the strike is released, so a crash can never leave an entry without its record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from gateway import door as sm
from gateway.access_index import AccessIndex
from gateway.config.site import PinPolicy
from gateway.decision import AccessPoint, CredentialEntry, Decision, NeedPin, PinCheck, decide
from gateway.domain import AuthMode, Direction, Outcome, Reason
from gateway.door_control import DoorController
from gateway.events import CardRead, CardUnreadable, KeypadKeys
from gateway.hashing import verify_secret
from gateway.pin_state import PinStates
from gateway.ports import Feedback, ReaderBus
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.schedule import SiteCalendar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReaderPlace:
    """Which door a reader serves, and which way a person passes when badging there."""

    reader_id: str
    door: DoorController
    direction: Direction


class PinPrompt:
    """Collects one PIN from a reader's keypad: digits until '#', '*' starts over."""

    def __init__(self, max_length: int) -> None:
        self._digits: list[str] = []
        self._max = max_length
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def keys(self, keys: str) -> None:
        """Feed keys as they arrive."""
        for k in keys:
            if self.done.done():
                return
            if k == "*":
                self._digits.clear()
            elif k == "#":
                self.done.set_result("".join(self._digits))
            elif k.isdigit():
                self._digits.append(k)
                if len(self._digits) >= self._max:
                    self.done.set_result("".join(self._digits))


class BadgeHandler:
    """Handles card and keypad events from every reader."""

    def __init__(
        self,
        *,
        places: dict[str, ReaderPlace],
        readers: dict[str, ReaderBus],
        index: AccessIndex,
        calendar: SiteCalendar,
        recorder: Recorder,
        pins: PinStates,
        pin_policy: PinPolicy,
        utcnow: Callable[[], datetime],
    ) -> None:
        self._places = places
        self._readers = readers
        self._index = index
        self._calendar = calendar
        self._recorder = recorder
        self._pins = pins
        self._policy = pin_policy
        self._utcnow = utcnow
        self._prompts: dict[str, PinPrompt] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Frame received → record committed and strike written, in ns (read by the benchmark).
        self.grant_path_ns: deque[int] = deque(maxlen=200_000)

    def on_card(self, ev: CardRead | CardUnreadable) -> None:
        """A card frame arrived: decide it in a task of its own."""
        place = self._places.get(ev.reader_id)
        if place is None:
            log.info("card at reader %s, which serves no door: ignored", ev.reader_id)
            return
        prompt = self._prompts.pop(ev.reader_id, None)
        if prompt is not None and not prompt.done.done():
            prompt.done.cancel()  # a new card ends the previous PIN wait
        task = asyncio.get_running_loop().create_task(self._badge(place, ev))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_keys(self, ev: KeypadKeys) -> None:
        """Keypad input: goes to the PIN prompt open on that reader, if any."""
        prompt = self._prompts.get(ev.reader_id)
        if prompt is not None:
            prompt.keys(ev.keys)

    def close(self) -> None:
        """Cancel badges in progress (shutdown)."""
        for t in self._tasks:
            t.cancel()

    async def _badge(self, place: ReaderPlace, ev: CardRead | CardUnreadable) -> None:
        door = place.door
        now = self._utcnow()
        if isinstance(ev, CardUnreadable):
            rec = self._access_record(
                place, None, Decision(Outcome.DENIED, Reason.UNREADABLE_CREDENTIAL)
            )
            rec = _with_detail(rec, error=ev.detail, bits=ev.bit_count)
            self._signal(place.reader_id, Feedback.DENIED)
            self._recorder.submit(rec)
            return
        entry = self._index.lookup(ev.card.key)
        auth = door.cfg.auth
        if place.direction is Direction.OUT and not door.cfg.pin_on_exit:
            auth = AuthMode.CARD  # leaving asks for no PIN unless the door says so
        point = AccessPoint(door.cfg.id, door.cfg.zone, place.direction, auth, door.available)
        lockout = self._pins.get(entry.credential_id) if entry else None
        result = decide(
            point,
            entry,
            now=now,
            calendar=self._calendar,
            locked_out=bool(lockout and lockout.locked(now)),
        )
        if isinstance(result, NeedPin):
            assert entry is not None
            result = await self._with_pin(place, point, entry)
        masked = entry.masked if entry else ev.card.masked
        rec = self._access_record(place, entry, result, masked)
        if not result.granted:
            self._signal(place.reader_id, Feedback.DENIED)
            self._recorder.submit(rec)
            return
        try:
            seq = await self._recorder.append(rec)
        except Exception as exc:  # noqa: BLE001 -- any storage failure: no record, no entry
            log.error("grant at %s not recorded (%s): door stays locked", door.cfg.id, exc)  # noqa: TRY400 -- the cause is in the message
            self._signal(place.reader_id, Feedback.DENIED)
            self._recorder.keep(_denied(rec, Reason.RECORDING_FAILED))
            return
        passage = sm.Passage(
            seq, rec.person_id, rec.person_kind, rec.credential, place.direction.value
        )
        await door.release(sm.ReleaseKind.GRANT, passage)
        self.grant_path_ns.append(time.perf_counter_ns() - ev.received_ns)
        self._signal(place.reader_id, Feedback.GRANTED)

    async def _with_pin(
        self, place: ReaderPlace, point: AccessPoint, entry: CredentialEntry
    ) -> Decision:
        prompt = PinPrompt(self._policy.max_length)
        self._prompts[place.reader_id] = prompt
        self._signal(place.reader_id, Feedback.PIN_REQUIRED)
        try:
            pin = await asyncio.wait_for(asyncio.shield(prompt.done), self._policy.entry_timeout_s)
            check = PinCheck.NOT_ENTERED
            if entry.pin_hash is not None and len(pin) >= self._policy.min_length:
                loop = asyncio.get_running_loop()
                ok = await loop.run_in_executor(None, verify_secret, entry.pin_hash, pin)
                check = PinCheck.CORRECT if ok else PinCheck.WRONG
            elif pin:
                check = PinCheck.WRONG
        except (TimeoutError, asyncio.CancelledError):
            check = PinCheck.NOT_ENTERED
        finally:
            if self._prompts.get(place.reader_id) is prompt:
                del self._prompts[place.reader_id]
        now = self._utcnow()
        self._pins.after(entry.credential_id, check, now, self._policy)
        # The door may have faulted while the PIN was typed: decide again with what holds now.
        point = AccessPoint(
            point.door_id, point.zone_id, point.direction, point.auth, place.door.available
        )
        result = decide(point, entry, now=now, calendar=self._calendar, pin=check)
        assert isinstance(result, Decision)
        return result

    def _access_record(
        self,
        place: ReaderPlace,
        entry: CredentialEntry | None,
        result: Decision,
        masked: str | None = None,
    ) -> NewRecord:
        detail: dict[str, object] = {}
        if result.authorization is not None:
            detail["authorization_id"] = result.authorization.authorization_id
            if result.authorization.purpose:
                detail["purpose"] = result.authorization.purpose
        return NewRecord(
            kind=RecordKind.ACCESS,
            ts=self._utcnow(),
            door_id=place.door.cfg.id,
            zone_id=place.door.cfg.zone,
            reader_id=place.reader_id,
            person_id=entry.person_id if entry else None,
            person_kind=entry.person_kind.value if entry else None,
            credential=masked,
            direction=place.direction.value,
            outcome=result.outcome.value,
            reason=result.reason.value,
            detail=detail,
        )

    def _signal(self, reader_id: str, feedback: Feedback) -> None:
        reader = self._readers.get(reader_id)
        if reader is not None:
            reader.signal(reader_id, feedback)


def _with_detail(rec: NewRecord, **extra: object) -> NewRecord:
    return replace(rec, detail={**rec.detail, **extra})


def _denied(rec: NewRecord, reason: Reason) -> NewRecord:
    return replace(rec, outcome=Outcome.DENIED.value, reason=reason.value)
