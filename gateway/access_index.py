"""The in-memory index the badge path reads: card key → credential, holder and all they hold.

Loaded from storage at start and refreshed per person when the API changes master data, so a
badge never waits on the database to be looked up.

At start every credential goes into a compact, read-only ``CredentialStore`` (2 million
credentials in a few hundred MB; see ``gateway.credential_store``), streamed from the database
without holding its rows. A person the API changes afterwards is reloaded into a small overlay
of ordinary ``CredentialEntry`` objects that takes precedence over the store; their rows in the
store are hidden. Entries read from the store are kept in a small cache, so a card presented
again costs a dictionary look-up as before. Lookups run on the event loop while a reload runs
in a worker thread: every change is made under a lock, in an order that never shows a revoked
card as valid, and the cache is cleared with it.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, select

from gateway.compact import release_free_memory
from gateway.config.site import SiteConfig
from gateway.credential_store import CredentialStore, StoreBuilder
from gateway.decision import AuthorizationEntry, CredentialEntry, TrainingEntry, WorkOrderEntry
from gateway.domain import CardId
from gateway.schedule import CompiledSchedule
from gateway.storage.models import (
    AUTHORIZATION_TABLE,
    CREDENTIAL_TABLE,
    PERSON_TABLE,
    TRAINING_TABLE,
    WORK_ORDER_TABLE,
)

log = logging.getLogger(__name__)

_PERSON = PERSON_TABLE
_AUTH = AUTHORIZATION_TABLE
_CRED = CREDENTIAL_TABLE
_TRAINING = TRAINING_TABLE
_WORK = WORK_ORDER_TABLE
CACHE_SIZE = 4096  # entries read from the store and kept (cards presented again soon)
_STREAM_ROWS = 10_000  # rows fetched at a time while loading


@dataclass(slots=True)
class _State:
    """One loaded snapshot and what changed since (replaced whole by ``load_all``)."""

    store: CredentialStore
    overlay: dict[str, CredentialEntry] = field(default_factory=dict)  # card key → entry
    overlay_cards: dict[str, tuple[str, ...]] = field(default_factory=dict)  # person → keys
    hidden: set[int] = field(default_factory=set)  # store rows superseded by the overlay


class AccessIndex:
    """Card key → CredentialEntry, with a per-person view so a person can be replaced at once."""

    def __init__(self, site: SiteConfig) -> None:
        """An empty index for ``site`` (``load_all`` fills it)."""
        self._site_id = site.site.id
        self._schedules = {s.id: CompiledSchedule.compile(s) for s in site.schedules}
        self._schedules.setdefault("always", CompiledSchedule.compile(site.schedule("always")))
        self._state = _State(StoreBuilder().build())
        self._cache: dict[str, CredentialEntry] = {}
        self._generation = 0  # moves on every change; a stale read is never cached
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Cards a lookup can find."""
        st = self._state
        return len(st.store) - len(st.hidden) + len(st.overlay)

    @property
    def store(self) -> CredentialStore:
        """The compact snapshot loaded at start (for memory figures)."""
        return self._state.store

    def lookup(self, card_key: str) -> CredentialEntry | None:
        """The entry for a card key, or None."""
        st = self._state
        entry = st.overlay.get(card_key)
        if entry is not None:
            return entry
        entry = self._cache.get(card_key)
        if entry is not None:
            return entry
        generation = self._generation
        row = st.store.find(card_key)
        if row < 0 or row in st.hidden:
            return None
        entry = st.store.entry(row)
        with self._lock:
            if generation == self._generation:
                if len(self._cache) >= CACHE_SIZE:
                    del self._cache[next(iter(self._cache))]
                self._cache[card_key] = entry
        return entry

    def entries_of(self, person_id: str) -> list[CredentialEntry]:
        """Every credential entry of one person."""
        st = self._state
        out = [
            e
            for k in st.overlay_cards.get(person_id, ())
            if (e := st.overlay.get(k)) is not None and e.person_id == person_id
        ]
        person = st.store.person_row(person_id)
        if person >= 0:
            out += [
                st.store.entry(r)
                for r in st.store.credential_rows(person)
                if r not in st.hidden and st.store.card_key(r) not in st.overlay
            ]
        return out

    def load_all(self, engine: Engine) -> None:
        """Load every credential of the site (at start, or to fold the overlay back in)."""
        with engine.connect() as conn:
            store = self._build(conn)
        with self._lock:
            self._state = _State(store)
            self._changed()
        release_free_memory()

    def reload_person(self, engine: Engine, person_id: str) -> None:
        """Replace everything known about one person."""
        with engine.connect() as conn:
            by_card, cards_of = self._load(conn, person_id)
        with self._lock:
            self._put(person_id, by_card, cards_of.get(person_id, ()))

    def replace(self, entries: Iterable[CredentialEntry]) -> None:
        """Load entries built elsewhere (benchmarks, bulk imports), in front of what is loaded."""
        with self._lock:
            st = self._state
            for e in entries:
                self._shadow(e.card_key)
                st.overlay[e.card_key] = e
                keys = st.overlay_cards.get(e.person_id, ())
                if e.card_key not in keys:
                    st.overlay_cards[e.person_id] = (*keys, e.card_key)
            self._changed()

    def _put(
        self, person_id: str, by_card: dict[str, CredentialEntry], keys: tuple[str, ...]
    ) -> None:
        """Make ``by_card`` the person's credentials (lock held).

        New entries go in first, then what the person no longer holds goes out, so a lookup
        running meanwhile sees the old or the new state of each card, never a card the person
        lost as still theirs.
        """
        st = self._state
        for key, entry in by_card.items():
            self._shadow(key)
            st.overlay[key] = entry
        for key in st.overlay_cards.get(person_id, ()):
            old = st.overlay.get(key)
            if key not in by_card and old is not None and old.person_id == person_id:
                del st.overlay[key]
        person = st.store.person_row(person_id)
        if person >= 0:
            st.hidden.update(st.store.credential_rows(person))
        if keys:
            st.overlay_cards[person_id] = keys
        else:
            st.overlay_cards.pop(person_id, None)
        self._changed()

    def _shadow(self, card_key: str) -> None:
        """Hide the store's row of a card the overlay now answers for (lock held)."""
        st = self._state
        row = st.store.find(card_key)
        if row >= 0:
            st.hidden.add(row)

    def _changed(self) -> None:
        """Forget cached entries; reads that began before this are not cached (lock held)."""
        self._generation += 1
        self._cache.clear()

    def _build(self, conn: Connection) -> CredentialStore:
        """Stream the site's master data into a new store (rows are never all in memory)."""
        b = StoreBuilder()
        streamed = conn.execution_options(yield_per=_STREAM_ROWS)
        for p in streamed.execute(_people(self._site_id)):
            b.person(p.id, p.name, p.kind, p.enabled, p.contract_end)
        skipped = 0
        for c in streamed.execute(_creds(self._site_id)):
            if not b.credential(
                c.id,
                c.person_id,
                c.card_key,
                status=c.status,
                valid_from=c.valid_from,
                valid_to=c.valid_to,
                pin_hash=c.pin_hash,
                duress_pin_hash=c.duress_pin_hash,
            ):
                skipped += 1
        for a in streamed.execute(_auths(self._site_id)):
            entry = self._auth_entry(a)
            if entry is not None:
                b.authorization(a.person_id, entry)
        for t in streamed.execute(_trainings(self._site_id)):
            b.training(t.person_id, t.course, t.valid_until)
        for w in streamed.execute(_work_orders(self._site_id)):
            b.work_order(
                w.person_id, WorkOrderEntry(w.id, w.zone_id, w.purpose, w.valid_from, w.valid_to)
            )
        if skipped:
            log.warning(
                "%d credential(s) skipped: card key not canonical (FORMAT:FACILITY:NUMBER) "
                "or holder not found",
                skipped,
            )
        return b.build()

    def _load(
        self, conn: Connection, person_id: str | None
    ) -> tuple[dict[str, CredentialEntry], dict[str, tuple[str, ...]]]:
        """Entries of one person (or all) as ordinary objects, by card and by person."""

        def only(stmt: Select[Any], col: Any) -> Select[Any]:
            """The statement, limited to the one person when there is one."""
            return stmt if person_id is None else stmt.where(col == person_id)

        people = {p.id: p for p in conn.execute(only(_people(self._site_id), _PERSON.c.id)).all()}
        auths: dict[str, list[AuthorizationEntry]] = defaultdict(list)
        for a in conn.execute(only(_auths(self._site_id), _AUTH.c.person_id)).all():
            entry = self._auth_entry(a)
            if entry is not None:
                auths[a.person_id].append(entry)
        trainings: dict[str, list[TrainingEntry]] = defaultdict(list)
        for t in conn.execute(only(_trainings(self._site_id), _TRAINING.c.person_id)).all():
            trainings[t.person_id].append(TrainingEntry(t.course, t.valid_until))
        orders: dict[str, list[WorkOrderEntry]] = defaultdict(list)
        for w in conn.execute(only(_work_orders(self._site_id), _WORK.c.person_id)).all():
            orders[w.person_id].append(
                WorkOrderEntry(w.id, w.zone_id, w.purpose, w.valid_from, w.valid_to)
            )
        by_card: dict[str, CredentialEntry] = {}
        cards_of: dict[str, list[str]] = defaultdict(list)
        for c in conn.execute(only(_creds(self._site_id), _CRED.c.person_id)).all():
            person = people.get(c.person_id)
            if person is None:
                continue
            by_card[c.card_key] = _entry(
                c,
                person,
                tuple(auths.get(c.person_id, ())),
                tuple(trainings.get(c.person_id, ())),
                tuple(orders.get(c.person_id, ())),
            )
            cards_of[c.person_id].append(c.card_key)
        return by_card, {k: tuple(v) for k, v in cards_of.items()}

    def compiled(self, schedule_id: str) -> CompiledSchedule | None:
        """The compiled schedule with this id, if the site file has it."""
        return self._schedules.get(schedule_id)

    def _auth_entry(self, a: Row[Any]) -> AuthorizationEntry | None:
        """The decision's view of an authorization row (None: its schedule is gone)."""
        schedule = self._schedules.get(a.schedule_id)
        if schedule is None:
            log.warning(
                "authorization %s names schedule %r, which the site file no longer has: ignored",
                a.id,
                a.schedule_id,
            )
            return None
        return AuthorizationEntry(
            authorization_id=a.id,
            zone_id=a.zone_id,
            schedule=schedule,
            valid_from=a.valid_from,
            valid_to=a.valid_to,
            purpose=a.purpose,
            certified_at=a.recertified_at or a.granted_at,
            supervisor=a.supervisor,
        )


def _people(site_id: str) -> Select[Any]:
    """The site's people, as the index needs them."""
    p = _PERSON.c
    return select(p.id, p.name, p.kind, p.enabled, p.contract_end).where(p.site_id == site_id)


def _auths(site_id: str) -> Select[Any]:
    """The site's authorizations that are not revoked."""
    a = _AUTH.c
    cols = (
        a.id,
        a.person_id,
        a.zone_id,
        a.schedule_id,
        a.valid_from,
        a.valid_to,
        a.purpose,
        a.granted_at,
        a.recertified_at,
        a.supervisor,
    )
    return select(*cols).where(a.site_id == site_id, a.revoked_at.is_(None))


def _creds(site_id: str) -> Select[Any]:
    """The site's credentials."""
    c = _CRED.c
    cols = (
        c.id,
        c.person_id,
        c.card_key,
        c.status,
        c.valid_from,
        c.valid_to,
        c.pin_hash,
        c.duress_pin_hash,
    )
    return select(*cols).where(c.site_id == site_id)


def _trainings(site_id: str) -> Select[Any]:
    """The site's training records."""
    t = _TRAINING.c
    return select(t.person_id, t.course, t.valid_until).where(t.site_id == site_id)


def _work_orders(site_id: str) -> Select[Any]:
    """The site's approved work orders."""
    w = _WORK.c
    cols = (w.id, w.person_id, w.zone_id, w.purpose, w.valid_from, w.valid_to)
    return select(*cols).where(w.site_id == site_id, w.status == "approved")


def _entry(
    c: Row[Any],
    person: Row[Any],
    auths: tuple[AuthorizationEntry, ...],
    trainings: tuple[TrainingEntry, ...],
    orders: tuple[WorkOrderEntry, ...],
) -> CredentialEntry:
    """One credential joined with its holder and what the holder has (the object path)."""
    return CredentialEntry(
        credential_id=c.id,
        card_key=c.card_key,
        masked=CardId.parse(c.card_key).masked,
        person_id=person.id,
        person_name=person.name,
        person_kind=person.kind,
        person_enabled=person.enabled,
        status=c.status,
        valid_from=c.valid_from,
        valid_to=c.valid_to,
        pin_hash=c.pin_hash,
        authorizations=auths,
        duress_pin_hash=c.duress_pin_hash,
        contract_end=person.contract_end,
        trainings=trainings,
        work_orders=orders,
    )
