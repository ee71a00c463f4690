"""Every credential of a site in compact columns; a ``CredentialEntry`` is made when one is read.

Held once per row, in flat arrays (``gateway.compact``): the card as one integer packing format,
facility and number (the key and its masked form are derived from it on demand), ids as 16 raw
bytes, times as int64 microseconds, enums as one byte. Held once per person: name, kind,
enabled, contract end. A person's credentials, authorizations and trainings are stored next to
each other, so one array of start rows per person finds them all (and, by bisection, the holder
of a credential). Authorizations share an interned "shape" (zone, schedule, validity, purpose,
supervisor) and keep only their id and certification time of their own. At 2 million people,
each with a card, an authorization and a training, this is about 140 bytes a person instead of
about 1.8 KB of objects.

The store is built once (``StoreBuilder``) and never changed: ``AccessIndex`` keeps what the
API changes afterwards in a small overlay of ordinary entries in front of it.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from gateway.compact import (
    IdColumn,
    Interned,
    RowTable,
    SparseTextColumn,
    TextColumn,
    TimeColumn,
    take,
    zeros,
)
from gateway.decision import AuthorizationEntry, CredentialEntry, TrainingEntry, WorkOrderEntry
from gateway.domain import (
    FORMAT_LIMITS,
    CredentialFormat,
    CredentialStatus,
    PersonKind,
    mask_card_number,
)
from gateway.schedule import CompiledSchedule

_FORMATS = tuple(CredentialFormat)
_FORMAT_INDEX = {f.value: i for i, f in enumerate(_FORMATS)}
_FORMAT_LIMITS = tuple((1 << FORMAT_LIMITS[f][0], 1 << FORMAT_LIMITS[f][1]) for f in _FORMATS)
_STATUSES = tuple(CredentialStatus)
_STATUS_INDEX = {s: i for i, s in enumerate(_STATUSES)}
_KINDS = tuple(PersonKind)
_KIND_INDEX = {k: i for i, k in enumerate(_KINDS)}
# A card code: format index in bits 48+, facility (≤ 16 bits) in 32-47, number (≤ 32 bits) below.
_FORMAT_SHIFT, _FACILITY_SHIFT = 48, 32
_FACILITY_MASK, _NUMBER_MASK = 0xFFFF, 0xFFFF_FFFF
# What authorizations share: zone, schedule, valid from, valid to, purpose, supervisor.
Shape = tuple[str, CompiledSchedule, datetime | None, datetime | None, str | None, bool]


def _decimal(text: str) -> int | None:
    """A canonical non-negative decimal (ASCII digits, no leading zero), or None."""
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        return None
    return int(text)


def card_code(card_key: str) -> int | None:
    """The integer of a canonical card key (``H10301:12:3456``); None for any other text."""
    parts = card_key.split(":")
    if len(parts) != 3:
        return None
    fmt = _FORMAT_INDEX.get(parts[0])
    facility = _decimal(parts[1])
    number = _decimal(parts[2])
    if fmt is None or facility is None or number is None:
        return None
    facility_limit, number_limit = _FORMAT_LIMITS[fmt]
    if facility >= facility_limit or number >= number_limit:
        return None
    return (fmt << _FORMAT_SHIFT) | (facility << _FACILITY_SHIFT) | number


def card_key_of(code: int) -> str:
    """The canonical card key a code stands for."""
    fmt = _FORMATS[code >> _FORMAT_SHIFT].value
    return f"{fmt}:{(code >> _FACILITY_SHIFT) & _FACILITY_MASK}:{code & _NUMBER_MASK}"


def masked_of(code: int) -> str:
    """The masked form of a card code, as records show it."""
    return mask_card_number(_FORMATS[code >> _FORMAT_SHIFT], code & _NUMBER_MASK)


class _Owners:
    """While building, who each row belongs to: each person's first row while the rows come
    grouped in person order (as a database returns rows added so), else the person of each row."""

    __slots__ = ("firsts", "owner", "rows")

    def __init__(self) -> None:
        """No rows yet."""
        self.firsts = array("I")  # firsts[p]: the first row of person p, while rows are grouped
        self.owner: array[int] | None = None  # per row, its person (once rows came unordered)
        self.rows = 0

    def add(self, person: int) -> None:
        """The next row belongs to ``person``."""
        if self.owner is None:
            firsts = self.firsts
            if person < len(firsts) - 1:
                self.owner = self._owner_so_far()
            else:
                while len(firsts) <= person:
                    firsts.append(self.rows)
        if self.owner is not None:
            self.owner.append(person)
        self.rows += 1

    def _owner_so_far(self) -> array[int]:
        """The person of every row added so far (made from ``firsts``, which is released)."""
        firsts, self.firsts = self.firsts, array("I")
        owner = array("I")
        for person, first in enumerate(firsts):
            end = firsts[person + 1] if person + 1 < len(firsts) else self.rows
            owner += array("I", [person]) * (end - first)
        return owner

    def group(self, people: int) -> tuple[array[int], array[int] | None]:
        """Each person's first row (``people + 1`` entries), and the reordering that groups the
        rows by person, keeping their order within a person (None: already grouped)."""
        if self.owner is None:
            starts, self.firsts = self.firsts, array("I")
            starts += array("I", [self.rows]) * (people + 1 - len(starts))
            return starts, None
        owner, self.owner = self.owner, None
        starts = zeros("I", people + 1)
        for person in owner:
            starts[person + 1] += 1
        running = 0
        for p in range(people + 1):
            running += starts[p]
            starts[p] = running
        cursor = array("I", starts)
        order = zeros("I", len(owner))
        for row, person in enumerate(owner):
            order[cursor[person]] = row
            cursor[person] += 1
        return starts, order


class _People:
    """Per person: id, name, kind, enabled, contract end."""

    __slots__ = ("contract_end", "enabled", "ids", "kinds", "names")

    def __init__(self) -> None:
        """No people yet."""
        self.ids = IdColumn()
        self.names = TextColumn()
        self.kinds = bytearray()
        self.enabled = bytearray()
        self.contract_end = TimeColumn()

    def nbytes(self) -> int:
        """Bytes held."""
        return (
            self.ids.nbytes()
            + self.names.nbytes()
            + len(self.kinds)
            + len(self.enabled)
            + self.contract_end.nbytes()
        )


class _Credentials:
    """Per credential: id, card code, status, validity, PIN hashes."""

    __slots__ = (
        "codes",
        "duress_pin_hash",
        "ids",
        "pin_hash",
        "starts",
        "status",
        "valid_from",
        "valid_to",
    )

    def __init__(self) -> None:
        """No credentials yet."""
        self.ids = IdColumn()
        self.codes = array("Q")
        self.status = bytearray()
        self.valid_from = TimeColumn()
        self.valid_to = TimeColumn()
        self.pin_hash = SparseTextColumn()
        self.duress_pin_hash = SparseTextColumn()
        self.starts = array("I")  # per person, their first credential row

    def finish(self, starts: array[int], order: Sequence[int] | None) -> None:
        """Group the rows by person (``order``; None: they are)."""
        self.starts = starts
        if order is not None:
            self.ids = self.ids.take(order)
            self.codes = take(self.codes, order)
            self.status = bytearray(self.status[r] for r in order)
            self.valid_from = self.valid_from.take(order)
            self.valid_to = self.valid_to.take(order)
            self.pin_hash = self.pin_hash.take(order)
            self.duress_pin_hash = self.duress_pin_hash.take(order)

    def nbytes(self) -> int:
        """Bytes held."""
        return (
            self.ids.nbytes()
            + 8 * len(self.codes)
            + len(self.status)
            + self.valid_from.nbytes()
            + self.valid_to.nbytes()
            + self.pin_hash.nbytes()
            + self.duress_pin_hash.nbytes()
            + 4 * len(self.starts)
        )


class _Authorizations:
    """Per authorization: id, shape, certification time."""

    __slots__ = ("certified_at", "ids", "shape", "starts")

    def __init__(self) -> None:
        """No authorizations yet."""
        self.ids = IdColumn()
        self.shape = array("I")
        self.certified_at = TimeColumn()
        self.starts = array("I")

    def finish(self, starts: array[int], order: Sequence[int] | None) -> None:
        """Group the rows by person (``order``; None: they are)."""
        self.starts = starts
        if order is not None:
            self.ids = self.ids.take(order)
            self.shape = take(self.shape, order)
            self.certified_at = self.certified_at.take(order)

    def nbytes(self) -> int:
        """Bytes held."""
        return (
            self.ids.nbytes()
            + 4 * len(self.shape)
            + self.certified_at.nbytes()
            + 4 * len(self.starts)
        )


class _Trainings:
    """Per training record: course and expiry."""

    __slots__ = ("course", "starts", "valid_until")

    def __init__(self) -> None:
        """No trainings yet."""
        self.course = array("I")
        self.valid_until = TimeColumn()
        self.starts = array("I")

    def finish(self, starts: array[int], order: Sequence[int] | None) -> None:
        """Group the rows by person (``order``; None: they are)."""
        self.starts = starts
        if order is not None:
            self.course = take(self.course, order)
            self.valid_until = self.valid_until.take(order)

    def nbytes(self) -> int:
        """Bytes held."""
        return 4 * len(self.course) + self.valid_until.nbytes() + 4 * len(self.starts)


def _find_person(table: RowTable, ids: IdColumn, person_id: str) -> int:
    """The row of ``person_id`` in ``table``, or -1."""
    for row in table.candidates(hash(person_id)):
        if ids.get(row) == person_id:
            return row
    return -1


class CredentialStore:
    """The read side: find a card, read a credential's entry, find a person's credentials."""

    def __init__(
        self,
        *,
        people: _People,
        person_table: RowTable,
        credentials: _Credentials,
        authorizations: _Authorizations,
        trainings: _Trainings,
        shapes: list[Shape],
        courses: list[str],
        work_orders: dict[int, tuple[WorkOrderEntry, ...]],
    ) -> None:
        """Take finished columns (use ``StoreBuilder.build``)."""
        self._people = people
        self._person_table = person_table
        self._credentials = credentials
        self._authorizations = authorizations
        self._trainings = trainings
        self._shapes = shapes
        self._courses = courses
        self._work_orders = work_orders
        codes = credentials.codes
        self._cards = RowTable(len(codes))
        for row, code in enumerate(codes):
            self._cards.add(code, row)

    def __len__(self) -> int:
        """Credentials held."""
        return len(self._credentials.codes)

    def find(self, card_key: str) -> int:
        """The credential row of a card key, or -1."""
        code = card_code(card_key)
        return -1 if code is None else self._cards.find(code, self._credentials.codes)

    def card_key(self, row: int) -> str:
        """The card key of a credential row."""
        return card_key_of(self._credentials.codes[row])

    def person_row(self, person_id: str) -> int:
        """The row of a person, or -1."""
        return _find_person(self._person_table, self._people.ids, person_id)

    def credential_rows(self, person: int) -> range:
        """The credential rows of a person row, in load order."""
        starts = self._credentials.starts
        return range(starts[person], starts[person + 1])

    def entry(self, row: int) -> CredentialEntry:
        """The full entry of a credential row, as the decision reads it."""
        c, p = self._credentials, self._people
        person = bisect_right(c.starts, row) - 1
        code = c.codes[row]
        return CredentialEntry(
            c.ids.get(row),
            card_key_of(code),
            masked_of(code),
            p.ids.get(person),
            p.names.get(person) or "",
            _KINDS[p.kinds[person]],
            bool(p.enabled[person]),
            _STATUSES[c.status[row]],
            c.valid_from.get(row),
            c.valid_to.get(row),
            c.pin_hash.get(row),
            self._authorizations_of(person),
            c.duress_pin_hash.get(row),
            p.contract_end.get(person),
            self._trainings_of(person),
            self._work_orders.get(person, ()),
        )

    def _authorizations_of(self, person: int) -> tuple[AuthorizationEntry, ...]:
        """A person's authorizations, in load order."""
        a = self._authorizations
        out = []
        for row in range(a.starts[person], a.starts[person + 1]):
            zone, schedule, valid_from, valid_to, purpose, supervisor = self._shapes[a.shape[row]]
            out.append(
                AuthorizationEntry(
                    a.ids.get(row),
                    zone,
                    schedule,
                    valid_from,
                    valid_to,
                    purpose,
                    a.certified_at.get(row),
                    supervisor,
                )
            )
        return tuple(out)

    def _trainings_of(self, person: int) -> tuple[TrainingEntry, ...]:
        """A person's training records, in load order."""
        t = self._trainings
        return tuple(
            TrainingEntry(self._courses[t.course[row]], t.valid_until.get(row))
            for row in range(t.starts[person], t.starts[person + 1])
        )

    def nbytes(self) -> dict[str, int]:
        """Bytes held by the columns, per part (interned values and odd ids not counted)."""
        return {
            "card table": self._cards.nbytes(),
            "people": self._people.nbytes() + self._person_table.nbytes(),
            "credentials": self._credentials.nbytes(),
            "authorizations": self._authorizations.nbytes(),
            "trainings": self._trainings.nbytes(),
        }


class StoreBuilder:
    """Fills the columns row by row: every person first, then what they hold, in any order."""

    def __init__(self) -> None:
        """Nothing added yet."""
        self._people = _People()
        self._credentials = _Credentials()
        self._authorizations = _Authorizations()
        self._trainings = _Trainings()
        self._owners = {
            "credentials": _Owners(),
            "authorizations": _Owners(),
            "trainings": _Owners(),
        }
        self._shapes: Interned[Shape] = Interned()
        self._courses: Interned[str] = Interned()
        self._work_orders: dict[int, list[WorkOrderEntry]] = defaultdict(list)
        self._person_table: RowTable | None = None

    def person(
        self,
        person_id: str,
        name: str,
        kind: PersonKind,
        enabled: bool,
        contract_end: datetime | None,
    ) -> None:
        """Add a person (before anything they hold)."""
        if self._person_table is not None:
            raise RuntimeError("people are added before anything they hold")
        p = self._people
        p.ids.append(person_id)
        p.names.append(name)
        p.kinds.append(_KIND_INDEX[kind])
        p.enabled.append(1 if enabled else 0)
        p.contract_end.append(contract_end)

    def _person(self, person_id: str) -> int:
        """The row of a person added before, or -1 (the person table is made on first use)."""
        if self._person_table is None:
            ids = self._people.ids
            self._person_table = RowTable(len(ids))
            for row in range(len(ids)):
                self._person_table.add(hash(ids.get(row)), row)
        return _find_person(self._person_table, self._people.ids, person_id)

    def credential(
        self,
        credential_id: str,
        person_id: str,
        card_key: str,
        *,
        status: CredentialStatus,
        valid_from: datetime | None,
        valid_to: datetime | None,
        pin_hash: str | None,
        duress_pin_hash: str | None,
    ) -> bool:
        """Add a credential; False (nothing added) when its holder is unknown or the key odd."""
        code = card_code(card_key)
        person = self._person(person_id)
        if code is None or person < 0:
            return False
        c = self._credentials
        self._owners["credentials"].add(person)
        c.codes.append(code)
        c.ids.append(credential_id)
        c.status.append(_STATUS_INDEX[status])
        c.valid_from.append(valid_from)
        c.valid_to.append(valid_to)
        c.pin_hash.append(pin_hash)
        c.duress_pin_hash.append(duress_pin_hash)
        return True

    def authorization(self, person_id: str, entry: AuthorizationEntry) -> None:
        """Add an authorization of a known person (others are ignored)."""
        person = self._person(person_id)
        if person < 0:
            return
        a = self._authorizations
        self._owners["authorizations"].add(person)
        a.ids.append(entry.authorization_id)
        shape: Shape = (
            entry.zone_id,
            entry.schedule,
            entry.valid_from,
            entry.valid_to,
            entry.purpose,
            entry.supervisor,
        )
        a.shape.append(self._shapes.handle(shape))
        a.certified_at.append(entry.certified_at)

    def training(self, person_id: str, course: str, valid_until: datetime | None) -> None:
        """Add a training record of a known person (others are ignored)."""
        person = self._person(person_id)
        if person < 0:
            return
        self._owners["trainings"].add(person)
        self._trainings.course.append(self._courses.handle(course))
        self._trainings.valid_until.append(valid_until)

    def work_order(self, person_id: str, order: WorkOrderEntry) -> None:
        """Add an approved work order of a known person (others are ignored)."""
        person = self._person(person_id)
        if person >= 0:
            self._work_orders[person].append(order)

    def build(self) -> CredentialStore:
        """The finished, read-only store (the builder is spent)."""
        self._person("")  # makes the person table if nothing was added after the people
        assert self._person_table is not None
        people = len(self._people.ids)
        self._credentials.finish(*self._owners.pop("credentials").group(people))
        self._authorizations.finish(*self._owners.pop("authorizations").group(people))
        self._trainings.finish(*self._owners.pop("trainings").group(people))
        return CredentialStore(
            people=self._people,
            person_table=self._person_table,
            credentials=self._credentials,
            authorizations=self._authorizations,
            trainings=self._trainings,
            shapes=self._shapes.values,
            courses=self._courses.values,
            work_orders={p: tuple(w) for p, w in self._work_orders.items()},
        )
