"""The badge path: card in → decision → durable record → strike released → reader feedback.

Clauses 4-8-7(1) (every entry and exit recorded with person, credential, door, direction,
decision, reason and purpose; outsiders escorted; two-person zones) and 4-8-7(3) (card+PIN,
lock-out, duress). A grant is committed to the log BEFORE the strike is released, so a crash can
never leave an entry without its record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from gateway import door as sm
from gateway import pairing
from gateway.access_index import AccessIndex
from gateway.config.site import PinPolicy
from gateway.decision import (
    AccessPoint,
    Companion,
    CredentialEntry,
    Decision,
    NeedPin,
    PinCheck,
    Presence,
    ZoneRules,
    decide,
)
from gateway.domain import AuthMode, Direction, Outcome, PersonKind, Reason
from gateway.door_control import DoorController
from gateway.events import CardRead, CardUnreadable, KeypadKeys
from gateway.hashing import verify_secret
from gateway.pin_state import PinStates
from gateway.ports import Feedback, ReaderBus
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.schedule import SiteCalendar
from gateway.zones import ZoneService

log = logging.getLogger(__name__)

_WAIT_REASON = {
    Companion.ESCORT: Reason.AWAITING_ESCORT,
    Companion.SECOND_PERSON: Reason.AWAITING_SECOND_PERSON,
}
_EXPIRED_REASON = {
    Companion.ESCORT: Reason.ESCORT_NOT_PRESENTED,
    Companion.SECOND_PERSON: Reason.SECOND_PERSON_NOT_PRESENTED,
}


@dataclass(frozen=True, slots=True)
class ReaderPlace:
    """Which door a reader serves, and which way a person passes when badging there."""

    reader_id: str
    door: DoorController
    direction: Direction


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A person waiting at a door for an escort or a second person."""

    place: ReaderPlace
    entry: CredentialEntry
    decision: Decision
    pending_seq: int


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
        zones: ZoneService,
        rules: dict[str, ZoneRules],
        windows: dict[str, float],
        interlock_clear: Callable[[str], bool],
        on_supervisor: Callable[[DoorController], None],
        camera_watch: Callable[[str], tuple[str, ...]] = lambda zone_id: (),
    ) -> None:
        self._places = places
        self._readers = readers
        self._index = index
        self._calendar = calendar
        self._recorder = recorder
        self._pins = pins
        self._policy = pin_policy
        self._utcnow = utcnow
        self._zones = zones
        self._rules = rules
        self._windows = windows  # zone → escort / two-person window (seconds)
        self._interlock_clear = interlock_clear
        self._on_supervisor = on_supervisor
        self._camera_watch = camera_watch  # zone → cameras with a good picture of it now
        self._prompts: dict[str, PinPrompt] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._queues: dict[str, pairing.DoorQueue] = {}
        self._waiting: dict[tuple[str, str], _Waiting] = {}
        self._sweeps: dict[str, asyncio.TimerHandle] = {}
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
        self._spawn(self._badge(place, ev))

    def on_keys(self, ev: KeypadKeys) -> None:
        """Keypad input: goes to the PIN prompt open on that reader, if any."""
        prompt = self._prompts.get(ev.reader_id)
        if prompt is not None:
            prompt.keys(ev.keys)

    def close(self) -> None:
        """Cancel badges in progress and waiting timers (shutdown)."""
        for t in self._tasks:
            t.cancel()
        for h in self._sweeps.values():
            h.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- one badge --------------------------------------------------------------------------

    def _point(self, place: ReaderPlace) -> AccessPoint:
        door = place.door
        auth = door.cfg.auth
        if place.direction is Direction.OUT and not door.cfg.pin_on_exit:
            auth = AuthMode.CARD  # leaving asks for no PIN unless the door says so
        rules = self._rules[door.cfg.zone]
        return AccessPoint(
            door.cfg.id,
            rules,
            place.direction,
            auth,
            door.available,
            door.mode,
            self._interlock_clear(door.cfg.id),
            rules.camera_monitored and bool(self._camera_watch(door.cfg.zone)),
        )

    async def _badge(self, place: ReaderPlace, ev: CardRead | CardUnreadable) -> None:
        if isinstance(ev, CardUnreadable):
            rec = self._access_record(
                place, None, Decision(Outcome.DENIED, Reason.UNREADABLE_CREDENTIAL)
            )
            rec = replace(rec, detail={**rec.detail, "error": ev.detail, "bits": ev.bit_count})
            self._signal(place.reader_id, Feedback.DENIED)
            self._recorder.submit(rec)
            return
        now = self._utcnow()
        entry = self._index.lookup(ev.card.key)
        point = self._point(place)
        presence = self._zones.presence(point.zone_id, entry.person_id) if entry else Presence()
        lockout = self._pins.get(entry.credential_id) if entry else None
        result = decide(
            point,
            entry,
            now=now,
            calendar=self._calendar,
            presence=presence,
            locked_out=bool(lockout and lockout.locked(now)),
        )
        if isinstance(result, NeedPin):
            assert entry is not None
            result = await self._with_pin(place, entry)
        masked = entry.masked if entry else ev.card.masked
        if not result.granted:
            self._signal(place.reader_id, Feedback.DENIED)
            self._recorder.submit(self._access_record(place, entry, result, masked))
            self._side_records(place, entry, result, None)
            return
        assert entry is not None
        door_id = place.door.cfg.id
        waiting_here = any(w.needs for w in self._queues.get(door_id, pairing.DoorQueue()).waiting)
        if result.companion is not None or waiting_here:
            await self._pair(place, entry, result)
            return
        seq = await self._grant(place, entry, result, ev.received_ns)
        if seq is not None and self._rules[place.door.cfg.zone].escort_required:
            self._remember_escort(place, entry)

    async def _grant(
        self,
        place: ReaderPlace,
        entry: CredentialEntry,
        result: Decision,
        received_ns: int | None,
        extra: dict[str, object] | None = None,
    ) -> int | None:
        """Record a grant durably, then release the strike; None when recording failed."""
        rec = self._access_record(place, entry, result, entry.masked, extra)
        try:
            seq = await self._recorder.append(rec)
        except Exception as exc:  # noqa: BLE001 -- any storage failure: no record, no entry
            log.error("grant at %s not recorded (%s): door stays locked", place.door.cfg.id, exc)  # noqa: TRY400 -- the cause is in the message
            self._signal(place.reader_id, Feedback.DENIED)
            self._recorder.keep(
                replace(rec, outcome=Outcome.DENIED.value, reason=Reason.RECORDING_FAILED.value),
                exc,
            )
            return None
        await place.door.release(sm.ReleaseKind.GRANT, (self._passage(seq, place, entry),))
        if received_ns is not None:
            self.grant_path_ns.append(time.perf_counter_ns() - received_ns)
        self._signal(place.reader_id, Feedback.GRANTED)
        self._side_records(place, entry, result, seq)
        return seq

    def _passage(
        self, seq: int, place: ReaderPlace, entry: CredentialEntry, escort: str | None = None
    ) -> sm.Passage:
        return sm.Passage(
            seq,
            entry.person_id,
            entry.person_kind.value,
            entry.masked,
            place.direction.value,
            escort,
        )

    def _side_records(
        self, place: ReaderPlace, entry: CredentialEntry | None, result: Decision, seq: int | None
    ) -> None:
        """Silent alarms and violations that go with a decision, and first-person-in."""
        base: dict[str, object] = {"decision_seq": seq} if seq is not None else {}
        if Reason.ANTIPASSBACK_VIOLATION in result.violations or (
            result.reason is Reason.ANTIPASSBACK_VIOLATION
        ):
            detail = {**base, "direction": place.direction.value, "enforced": not result.granted}
            self._side_record(RecordKind.ACCESS_ANTI_PASSBACK, place, entry, detail)
        if result.duress and result.granted:
            self._side_record(RecordKind.ACCESS_DURESS, place, entry, base)
        if (
            result.granted
            and place.direction is Direction.IN
            and result.authorization is not None
            and result.authorization.supervisor
        ):
            self._on_supervisor(place.door)

    def _side_record(
        self,
        kind: RecordKind,
        place: ReaderPlace,
        entry: CredentialEntry | None,
        detail: dict[str, object],
    ) -> None:
        door = place.door.cfg
        self._recorder.submit(
            NewRecord(
                kind,
                self._utcnow(),
                door_id=door.id,
                zone_id=door.zone,
                reader_id=place.reader_id,
                person_id=entry.person_id if entry else None,
                person_kind=entry.person_kind.value if entry else None,
                credential=entry.masked if entry else None,
                direction=place.direction.value,
                detail=detail,
            )
        )

    # --- escort and two-person rules -------------------------------------------------------

    def _remember_escort(self, place: ReaderPlace, entry: CredentialEntry) -> None:
        """A staff member went in alone: they may still escort an outsider who follows."""
        if entry.person_kind is not PersonKind.STAFF or place.direction is not Direction.IN:
            return
        door_id = place.door.cfg.id
        b = pairing.Badger(entry.person_id, None, can_escort=True, at=self._mono())
        q, _, _ = pairing.offer(
            self._queues.get(door_id, pairing.DoorQueue()), b, b.at, self._window(place)
        )
        self._queues[door_id] = q

    async def _pair(self, place: ReaderPlace, entry: CredentialEntry, result: Decision) -> None:
        door_id = place.door.cfg.id
        now = self._mono()
        b = pairing.Badger(
            entry.person_id, result.companion, entry.person_kind is PersonKind.STAFF, now
        )
        q, admits, expired = pairing.offer(
            self._queues.get(door_id, pairing.DoorQueue()), b, now, self._window(place)
        )
        self._queues[door_id] = q
        await self._expire(door_id, expired)
        if not any(a.badger is b for a in admits):
            assert result.companion is not None
            pending = Decision(
                Outcome.PENDING,
                _WAIT_REASON[result.companion],
                result.authorization,
                result.purpose,
                result.work_order_id,
                result.violations,
            )
            seq = await self._recorder.append(
                self._access_record(place, entry, pending, entry.masked)
            )
            self._waiting[(door_id, entry.person_id)] = _Waiting(place, entry, result, seq)
            self._signal(place.reader_id, Feedback.WAITING)
            self._schedule_sweep(door_id, self._window(place))
        if admits:
            await self._admit(place, entry, result, b, admits)

    async def _admit(
        self,
        place: ReaderPlace,
        entry: CredentialEntry,
        result: Decision,
        badger: pairing.Badger,
        admits: tuple[pairing.Admit, ...],
    ) -> None:
        """Grant everyone the rules now let in together, then release the door once."""
        door_id = place.door.cfg.id
        passages: list[sm.Passage] = []
        group = [a.badger.person_id for a in admits]
        readers: set[str] = set()
        for a in admits:
            if a.badger is badger:
                w = _Waiting(place, entry, result, 0)
            else:
                found = self._waiting.pop((door_id, a.badger.person_id), None)
                if found is None:
                    continue
                w = found
            escort = a.escort.person_id if a.escort else None
            extra: dict[str, object] = {"group": group}
            if escort is not None:
                extra["escort"] = escort
            if w.pending_seq:
                extra["pending_seq"] = w.pending_seq
            rec = self._access_record(w.place, w.entry, w.decision, w.entry.masked, extra)
            try:
                seq = await self._recorder.append(rec)
            except Exception as exc:  # noqa: BLE001 -- any storage failure: no record, no entry
                log.error("grant at %s not recorded (%s)", door_id, exc)  # noqa: TRY400 -- cause in message
                self._signal(w.place.reader_id, Feedback.DENIED)
                self._recorder.keep(
                    replace(rec, outcome="denied", reason=Reason.RECORDING_FAILED.value), exc
                )
                continue
            passages.append(self._passage(seq, w.place, w.entry, escort))
            readers.add(w.place.reader_id)
            self._side_records(w.place, w.entry, w.decision, seq)
        if passages:
            await place.door.release(sm.ReleaseKind.GRANT, tuple(passages))
            for r in readers:
                self._signal(r, Feedback.GRANTED)

    async def _expire(self, door_id: str, expired: tuple[pairing.Badger, ...]) -> None:
        for b in expired:
            w = self._waiting.pop((door_id, b.person_id), None)
            if w is None or b.needs is None:
                continue
            denial = Decision(Outcome.DENIED, _EXPIRED_REASON[b.needs], w.decision.authorization)
            rec = self._access_record(
                w.place, w.entry, denial, w.entry.masked, {"pending_seq": w.pending_seq}
            )
            self._recorder.submit(rec)
            self._signal(w.place.reader_id, Feedback.DENIED)

    def _schedule_sweep(self, door_id: str, after: float) -> None:
        old = self._sweeps.pop(door_id, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._sweeps[door_id] = loop.call_later(after + 0.05, self._sweep, door_id)

    def _sweep(self, door_id: str) -> None:
        self._sweeps.pop(door_id, None)
        q = self._queues.get(door_id)
        if q is None:
            return
        window = max(self._windows.values(), default=15.0)
        place_window = next(
            (self._window(w.place) for (d, _), w in self._waiting.items() if d == door_id), window
        )
        q, expired = pairing.prune(q, self._mono(), place_window)
        self._queues[door_id] = q
        if expired:
            self._spawn(self._expire(door_id, expired))
        if q.waiting:
            oldest = min(b.at for b in q.waiting)
            self._schedule_sweep(door_id, max(0.0, oldest + place_window - self._mono()))

    def _window(self, place: ReaderPlace) -> float:
        return self._windows.get(place.door.cfg.zone, 15.0)

    @staticmethod
    def _mono() -> float:
        return asyncio.get_running_loop().time()

    # --- PIN ----------------------------------------------------------------------------------

    async def _with_pin(self, place: ReaderPlace, entry: CredentialEntry) -> Decision:
        prompt = PinPrompt(self._policy.max_length)
        self._prompts[place.reader_id] = prompt
        self._signal(place.reader_id, Feedback.PIN_REQUIRED)
        try:
            pin = await asyncio.wait_for(asyncio.shield(prompt.done), self._policy.entry_timeout_s)
            check = await self._check_pin(entry, pin)
        except (TimeoutError, asyncio.CancelledError):
            check = PinCheck.NOT_ENTERED
        finally:
            if self._prompts.get(place.reader_id) is prompt:
                del self._prompts[place.reader_id]
        now = self._utcnow()
        self._pins.after(entry.credential_id, check, now, self._policy)
        # The door may have changed while the PIN was typed: decide again with what holds now.
        point = self._point(place)
        presence = self._zones.presence(point.zone_id, entry.person_id)
        result = decide(
            point, entry, now=now, calendar=self._calendar, presence=presence, pin=check
        )
        assert isinstance(result, Decision)
        return result

    async def _check_pin(self, entry: CredentialEntry, pin: str) -> PinCheck:
        if len(pin) < self._policy.min_length or entry.pin_hash is None:
            return PinCheck.WRONG if pin else PinCheck.NOT_ENTERED
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(None, verify_secret, entry.pin_hash, pin):
            return PinCheck.CORRECT
        if entry.duress_pin_hash is not None and await loop.run_in_executor(
            None, verify_secret, entry.duress_pin_hash, pin
        ):
            return PinCheck.DURESS
        return PinCheck.WRONG

    # --- records and feedback -------------------------------------------------------------

    def _access_record(
        self,
        place: ReaderPlace,
        entry: CredentialEntry | None,
        result: Decision,
        masked: str | None = None,
        extra: dict[str, object] | None = None,
    ) -> NewRecord:
        detail: dict[str, object] = dict(extra or {})
        if result.authorization is not None:
            detail["authorization_id"] = result.authorization.authorization_id
        if result.purpose:
            detail["purpose"] = result.purpose
        if result.work_order_id:
            detail["work_order_id"] = result.work_order_id
        if result.violations:
            detail["violations"] = [v.value for v in result.violations]
        if result.camera_cover:
            detail["monitored_by"] = list(self._camera_watch(place.door.cfg.zone))
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
