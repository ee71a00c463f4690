"""The in-memory index the badge path reads: card key → credential, holder and all they hold.

Loaded from storage at start and refreshed per person when the API changes master data, so a
badge never waits on the database to be looked up.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, select

from gateway.config.site import SiteConfig
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


class AccessIndex:
    """Card key → CredentialEntry, with a per-person map so a person can be replaced at once."""

    def __init__(self, site: SiteConfig) -> None:
        self._site_id = site.site.id
        self._schedules = {s.id: CompiledSchedule.compile(s) for s in site.schedules}
        self._schedules.setdefault("always", CompiledSchedule.compile(site.schedule("always")))
        self._by_card: dict[str, CredentialEntry] = {}
        self._cards_of: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._by_card)

    def lookup(self, card_key: str) -> CredentialEntry | None:
        """The entry for a card key, or None."""
        return self._by_card.get(card_key)

    def entries_of(self, person_id: str) -> list[CredentialEntry]:
        """Every credential entry of one person."""
        return [e for k in self._cards_of.get(person_id, ()) if (e := self._by_card.get(k))]

    def load_all(self, engine: Engine) -> None:
        """Load every credential of the site (at start)."""
        with engine.connect() as conn:
            by_card, cards_of = self._load(conn, None)
        self._by_card = by_card
        self._cards_of = cards_of

    def reload_person(self, engine: Engine, person_id: str) -> None:
        """Replace everything known about one person."""
        with engine.connect() as conn:
            by_card, cards_of = self._load(conn, person_id)
        for key in self._cards_of.pop(person_id, ()):
            self._by_card.pop(key, None)
        self._by_card.update(by_card)
        self._cards_of.update(cards_of)

    def replace(self, entries: Iterable[CredentialEntry]) -> None:
        """Load entries built elsewhere (benchmarks, bulk imports)."""
        for e in entries:
            self._by_card[e.card_key] = e
            self._cards_of[e.person_id] = (*self._cards_of.get(e.person_id, ()), e.card_key)

    def _load(
        self, conn: Connection, person_id: str | None
    ) -> tuple[dict[str, CredentialEntry], dict[str, tuple[str, ...]]]:
        def only(stmt: Select[Any], col: Any) -> Select[Any]:
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
    p = _PERSON.c
    return select(p.id, p.name, p.kind, p.enabled, p.contract_end).where(p.site_id == site_id)


def _auths(site_id: str) -> Select[Any]:
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
    t = _TRAINING.c
    return select(t.person_id, t.course, t.valid_until).where(t.site_id == site_id)


def _work_orders(site_id: str) -> Select[Any]:
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
