"""Every credential of a site in compact columns; a ``CredentialEntry`` is made when one is read.

Held once per row, in flat arrays (``gateway.compact``): the card as one integer packing format,
facility and number (the key and its masked form are derived from it on demand), ids as 16 raw
bytes, times as int64 microseconds, enums as one byte. Held once per person: name, kind,
enabled, contract end, and the chains of their credentials, authorizations and trainings.
Authorizations share one interned "shape" (zone, schedule, validity, purpose, supervisor) and
keep only their id and certification time of their own. At 2 million people, each with a card,
an authorization and a training, this is about 130 bytes a credential instead of ~1.5 KB of
objects.

The snapshot is built once (``StoreBuilder``) and never changed: ``AccessIndex`` keeps what the
API changes afterwards in a small overlay of ordinary entries in front of it.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from datetime import datetime

from gateway.compact import (
    IdColumn,
    Interned,
    RowTable,
    SparseTextColumn,
    TextColumn,
    TimeColumn,
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
_NONE = -1  # end of a chain
# What authorizations share: zone, schedule, valid from, valid to, purpose, supervisor.
Shape = tuple[str, CompiledSchedule, datetime | None, datetime | None, str | None, bool]
# A card code: format index in bits 48+, facility (≤ 16 bits) in 32-47, number (≤ 32 bits) below.
_FORMAT_SHIFT, _FACILITY_SHIFT = 48, 32
_FACILITY_MASK, _NUMBER_MASK = 0xFFFF, 0xFFFF_FFFF


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


class _Chains:
    """Rows of one kind (credentials, authorizations, trainings) linked per person, in order."""

    __slots__ = ("first", "last", "next")

    def __init__(self) -> None:
        self.first = array("i")  # per person: their first row, or _NONE
        self.last = array("i")  # per person, while building: their last row
        self.next = array("i")  # per row: the same person's next row, or _NONE

    def add_person(self) -> None:
        self.first.append(_NONE)
        self.last.append(_NONE)

    def link(self, person: int, row: int) -> None:
        """Append ``row`` (the newest row) to ``person``'s chain."""
        self.next.append(_NONE)
        tail = self.last[person]
        if tail == _NONE:
            self.first[person] = row
        else:
            self.next[tail] = row
        self.last[person] = row

    def rows(self, person: int) -> list[int]:
        """``person``'s rows, in the order they were added."""
        out = []
        row = self.first[person]
        while row != _NONE:
            out.append(row)
            row = self.next[row]
        return out

    def seal(self) -> None:
        """Building is over: drop the tails and the spare room the arrays grew."""
        self.last = array("i")
        self.first = array("i", self.first)
        self.next = array("i", self.next)

    def nbytes(self) -> int:
        return 4 * (len(self.first) + len(self.last) + len(self.next))


class CredentialStore:
    """The read side: find a card, read a credential's entry, find a person's credentials."""

    def __init__(self, builder: StoreBuilder) -> None:
        """Take over a finished builder's columns (use ``StoreBuilder.build``)."""
        b = builder
        self._people = b.people
        self._credentials = b.credentials
        self._authorizations = b.authorizations
        self._trainings = b.trainings
        self._shapes = b.shapes.values
        self._courses = b.courses.values
        self._work_orders = {p: tuple(w) for p, w in b.work_orders.items()}
        self._codes = b.codes
        self._cards = RowTable(len(b.codes))
        for row, code in enumerate(b.codes):
            self._cards.add(code, row)
        self._person_table = b.person_table()

    def __len__(self) -> int:
        """Credentials held."""
        return len(self._codes)

    def find(self, card_key: str) -> int:
        """The credential row of a card key, or -1."""
        code = card_code(card_key)
        return -1 if code is None else self._cards.find(code, self._codes)

    def card_key(self, row: int) -> str:
        """The card key of a credential row."""
        return card_key_of(self._codes[row])

    def person_row(self, person_id: str) -> int:
        """The row of a person, or -1."""
        return _find_person(self._person_table, self._people.ids, person_id)

    def credential_rows(self, person: int) -> list[int]:
        """The credential rows of a person row, in load order."""
        return self._credentials.chains.rows(person)

    def entry(self, row: int) -> CredentialEntry:
        """The full entry of a credential row, as the decision reads it."""
        c, p = self._credentials, self._people
        person = c.person[row]
        code = self._codes[row]
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
        a = self._authorizations
        out = []
        for row in a.chains.rows(person):
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
        t = self._trainings
        return tuple(
            TrainingEntry(self._courses[t.course[row]], t.valid_until.get(row))
            for row in t.chains.rows(person)
        )

    def nbytes(self) -> dict[str, int]:
        """Bytes held by the columns, per part (interned values and odd ids not counted)."""
        return {
            "cards": self._cards.nbytes() + 8 * len(self._codes),
            "people": self._people.nbytes() + self._person_table.nbytes(),
            "credentials": self._credentials.nbytes(),
            "authorizations": self._authorizations.nbytes(),
            "trainings": self._trainings.nbytes(),
        }


class _People:
    __slots__ = ("contract_end", "enabled", "ids", "kinds", "names")

    def trim(self) -> None:
        for column in (self.ids, self.names, self.contract_end):
            column.trim()
        self.kinds = bytearray(self.kinds)
        self.enabled = bytearray(self.enabled)

    def __init__(self) -> None:
        self.ids = IdColumn()
        self.names = TextColumn()
        self.kinds = bytearray()
        self.enabled = bytearray()
        self.contract_end = TimeColumn()

    def nbytes(self) -> int:
        return (
            self.ids.nbytes()
            + self.names.nbytes()
            + len(self.kinds)
            + len(self.enabled)
            + self.contract_end.nbytes()
        )


class _Credentials:
    __slots__ = (
        "chains",
        "duress_pin_hash",
        "ids",
        "person",
        "pin_hash",
        "status",
        "valid_from",
        "valid_to",
    )

    def trim(self) -> None:
        for column in (self.ids, self.valid_from, self.valid_to, self.pin_hash):
            column.trim()
        self.duress_pin_hash.trim()
        self.person = array("I", self.person)
        self.status = bytearray(self.status)
        self.chains.seal()

    def __init__(self) -> None:
        self.ids = IdColumn()
        self.person = array("I")
        self.status = bytearray()
        self.valid_from = TimeColumn()
        self.valid_to = TimeColumn()
        self.pin_hash = SparseTextColumn()
        self.duress_pin_hash = SparseTextColumn()
        self.chains = _Chains()

    def nbytes(self) -> int:
        return (
            self.ids.nbytes()
            + 4 * len(self.person)
            + len(self.status)
            + self.valid_from.nbytes()
            + self.valid_to.nbytes()
            + self.pin_hash.nbytes()
            + self.duress_pin_hash.nbytes()
            + self.chains.nbytes()
        )


class _Authorizations:
    __slots__ = ("certified_at", "chains", "ids", "shape")

    def trim(self) -> None:
        self.ids.trim()
        self.certified_at.trim()
        self.shape = array("I", self.shape)
        self.chains.seal()

    def __init__(self) -> None:
        self.ids = IdColumn()
        self.shape = array("I")
        self.certified_at = TimeColumn()
        self.chains = _Chains()

    def nbytes(self) -> int:
        return (
            self.ids.nbytes()
            + 4 * len(self.shape)
            + self.certified_at.nbytes()
            + self.chains.nbytes()
        )


class _Trainings:
    __slots__ = ("chains", "course", "valid_until")

    def trim(self) -> None:
        self.valid_until.trim()
        self.course = array("I", self.course)
        self.chains.seal()

    def __init__(self) -> None:
        self.course = array("I")
        self.valid_until = TimeColumn()
        self.chains = _Chains()

    def nbytes(self) -> int:
        return 4 * len(self.course) + self.valid_until.nbytes() + self.chains.nbytes()


def _find_person(table: RowTable, ids: IdColumn, person_id: str) -> int:
    for row in table.candidates(hash(person_id)):
        if ids.get(row) == person_id:
            return row
    return -1


class StoreBuilder:
    """Fills the columns row by row: every person first, then what they hold, in any order."""

    def __init__(self) -> None:
        """Nothing added yet."""
        self.people = _People()
        self.credentials = _Credentials()
        self.authorizations = _Authorizations()
        self.trainings = _Trainings()
        self.shapes: Interned[Shape] = Interned()
        self.courses: Interned[str] = Interned()
        self.work_orders: dict[int, list[WorkOrderEntry]] = defaultdict(list)
        self.codes = array("Q")
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
        p = self.people
        p.ids.append(person_id)
        p.names.append(name)
        p.kinds.append(_KIND_INDEX[kind])
        p.enabled.append(1 if enabled else 0)
        p.contract_end.append(contract_end)
        self.credentials.chains.add_person()
        self.authorizations.chains.add_person()
        self.trainings.chains.add_person()

    def person_table(self) -> RowTable:
        """The person-id lookup table (made once every person is in)."""
        if self._person_table is None:
            ids = self.people.ids
            self._person_table = RowTable(len(ids))
            for row in range(len(ids)):
                self._person_table.add(hash(ids.get(row)), row)
        return self._person_table

    def _person(self, person_id: str) -> int:
        return _find_person(self.person_table(), self.people.ids, person_id)

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
        c = self.credentials
        row = len(self.codes)
        self.codes.append(code)
        c.ids.append(credential_id)
        c.person.append(person)
        c.status.append(_STATUS_INDEX[status])
        c.valid_from.append(valid_from)
        c.valid_to.append(valid_to)
        c.pin_hash.append(pin_hash)
        c.duress_pin_hash.append(duress_pin_hash)
        c.chains.link(person, row)
        return True

    def authorization(
        self,
        person_id: str,
        entry: AuthorizationEntry,
    ) -> None:
        """Add an authorization of a known person (others are ignored)."""
        person = self._person(person_id)
        if person < 0:
            return
        a = self.authorizations
        row = len(a.shape)
        a.ids.append(entry.authorization_id)
        shape: Shape = (
            entry.zone_id,
            entry.schedule,
            entry.valid_from,
            entry.valid_to,
            entry.purpose,
            entry.supervisor,
        )
        a.shape.append(self.shapes.handle(shape))
        a.certified_at.append(entry.certified_at)
        a.chains.link(person, row)

    def training(self, person_id: str, course: str, valid_until: datetime | None) -> None:
        """Add a training record of a known person (others are ignored)."""
        person = self._person(person_id)
        if person < 0:
            return
        t = self.trainings
        row = len(t.course)
        t.course.append(self.courses.handle(course))
        t.valid_until.append(valid_until)
        t.chains.link(person, row)

    def work_order(self, person_id: str, order: WorkOrderEntry) -> None:
        """Add an approved work order of a known person (others are ignored)."""
        person = self._person(person_id)
        if person >= 0:
            self.work_orders[person].append(order)

    def build(self) -> CredentialStore:
        """The finished, read-only store."""
        self.person_table()
        self.people.trim()
        self.credentials.trim()
        self.authorizations.trim()
        self.trainings.trim()
        self.codes = array("Q", self.codes)
        return CredentialStore(self)
