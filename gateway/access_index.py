"""The in-memory index the badge path reads: card key → credential, holder and authorizations.

Loaded from storage at start and refreshed per person when the API changes master data, so a
badge never waits on the database to be looked up.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, Row, Select, select

from gateway.config.site import SiteConfig
from gateway.decision import AuthorizationEntry, CredentialEntry
from gateway.domain import CardId
from gateway.schedule import CompiledSchedule
from gateway.storage.models import AUTHORIZATION_TABLE, CREDENTIAL_TABLE, PERSON_TABLE

log = logging.getLogger(__name__)


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

    def load_all(self, engine: Engine) -> None:
        """Load every credential of the site (at start)."""
        with engine.connect() as conn:
            people = {p.id: p for p in conn.execute(_people(self._site_id)).all()}
            auths: dict[str, list[AuthorizationEntry]] = defaultdict(list)
            for a in conn.execute(_auths(self._site_id)).all():
                entry = self._auth_entry(a)
                if entry is not None:
                    auths[a.person_id].append(entry)
            creds = conn.execute(_creds(self._site_id)).all()
        by_card: dict[str, CredentialEntry] = {}
        cards_of: dict[str, list[str]] = defaultdict(list)
        for c in creds:
            person = people.get(c.person_id)
            if person is None:
                continue
            by_card[c.card_key] = _entry(c, person, tuple(auths.get(c.person_id, ())))
            cards_of[c.person_id].append(c.card_key)
        self._by_card = by_card
        self._cards_of = {k: tuple(v) for k, v in cards_of.items()}

    def entries_of(self, person_id: str) -> list[CredentialEntry]:
        """Every credential entry of one person."""
        return [e for k in self._cards_of.get(person_id, ()) if (e := self._by_card.get(k))]

    def reload_person(self, engine: Engine, person_id: str) -> None:
        """Replace everything known about one person."""
        with engine.connect() as conn:
            person = conn.execute(_people(self._site_id).where(_PERSON.c.id == person_id)).first()
            auth_rows = conn.execute(
                _auths(self._site_id).where(_AUTH.c.person_id == person_id)
            ).all()
            creds = conn.execute(_creds(self._site_id).where(_CRED.c.person_id == person_id)).all()
        for key in self._cards_of.pop(person_id, ()):
            self._by_card.pop(key, None)
        if person is None:
            return
        auths = tuple(e for e in (self._auth_entry(a) for a in auth_rows) if e is not None)
        keys = []
        for c in creds:
            self._by_card[c.card_key] = _entry(c, person, auths)
            keys.append(c.card_key)
        self._cards_of[person_id] = tuple(keys)

    def replace(self, entries: Iterable[CredentialEntry]) -> None:
        """Load entries built elsewhere (benchmarks, bulk imports)."""
        for e in entries:
            self._by_card[e.card_key] = e
            self._cards_of[e.person_id] = (*self._cards_of.get(e.person_id, ()), e.card_key)

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
        )


_PERSON = PERSON_TABLE
_AUTH = AUTHORIZATION_TABLE
_CRED = CREDENTIAL_TABLE


def _people(site_id: str) -> Select[Any]:
    p = _PERSON.c
    return select(p.id, p.name, p.kind, p.enabled).where(p.site_id == site_id)


def _auths(site_id: str) -> Select[Any]:
    a = _AUTH.c
    cols = (a.id, a.person_id, a.zone_id, a.schedule_id, a.valid_from, a.valid_to, a.purpose)
    return select(*cols).where(a.site_id == site_id, a.revoked_at.is_(None))


def _creds(site_id: str) -> Select[Any]:
    c = _CRED.c
    cols = (c.id, c.person_id, c.card_key, c.status, c.valid_from, c.valid_to, c.pin_hash)
    return select(*cols).where(c.site_id == site_id)


def _entry(c: Row[Any], person: Row[Any], auths: tuple[AuthorizationEntry, ...]) -> CredentialEntry:
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
    )
