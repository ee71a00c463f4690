"""A site's people at benchmark scale: every person with a card, an authorization and a training.

Rows go into the real schema (migrated by ``gateway.storage.migrate``) straight through
``sqlite3`` in large unsynchronised transactions — the master data an operator would have
imported — so 2 million people take a minute, not an hour of ORM inserts. Person ``i`` holds
card ``H10301:i // 65536:i % 65536`` and is authorized (with a standing purpose) for zone
``i % len(zones)``; every ``pin_every``-th card carries a PIN and a duress PIN (argon2id, from a
pool of real hashes so that generation stays fast; each row still stores its own copy). Made
from a fixed seed: the same arguments give the same database, which is kept and copied for
later runs.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.hashing import hash_secret
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade

COURSE = "pi-handling"
PURPOSE = "operations"
MAX_AGE_S = 30 * 86_400  # a kept database is remade after this (zones recertify after 90 days)
_CHUNK = 20_000
_PIN_POOL = 8
_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores a naive UTC time


@dataclass(frozen=True, slots=True)
class Population:
    """What to generate; ``name`` is the file it is kept in."""

    site_id: str
    count: int
    zones: tuple[str, ...]
    pin_every: int = 10
    seed: int = 9

    @property
    def name(self) -> str:
        """A file name that changes whenever the content would."""
        zones = "-".join(self.zones)
        return f"people-{self.site_id}-{self.count}-{zones}-pin{self.pin_every}-s{self.seed}-v1.db"


def card_of(i: int) -> str:
    """The card key of person ``i`` (H10301: 8-bit facility, 16-bit number)."""
    facility, number = divmod(i, 65536)
    return f"H10301:{facility}:{number}"


def zone_of(population: Population, i: int) -> str:
    """The zone person ``i`` is authorized for."""
    return population.zones[i % len(population.zones)]


def ensure(population: Population, cache: Path, into: Path) -> float:
    """Copy the population's database to ``into``, generating it in ``cache`` first if needed.

    Returns the seconds spent generating (0 when the cached file was used).
    """
    cache.mkdir(parents=True, exist_ok=True)
    kept = cache / population.name
    spent = 0.0
    if kept.exists() and time.time() - kept.stat().st_mtime > MAX_AGE_S:
        kept.unlink()  # its authorizations were granted then: recertification would lapse them
    if not kept.exists():
        started = datetime.now(UTC)
        partial = kept.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        generate(population, partial)
        partial.replace(kept)
        spent = (datetime.now(UTC) - started).total_seconds()
    into.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kept, into)
    return spent


def generate(population: Population, path: Path) -> None:
    """Create a migrated SQLite database at ``path`` holding the population."""
    engine = make_engine(sqlite_path=path)
    upgrade(engine)
    engine.dispose()
    pins = [hash_secret(f"{2468 + n}") for n in range(_PIN_POOL)]
    now = datetime.now(UTC).strftime(_SQLITE_TS)
    rng = random.Random(population.seed)  # noqa: S311 -- reproducible sample ids, not secrets
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-500000")
        for start in range(0, population.count, _CHUNK):
            rows = list(_rows(population, range(start, min(start + _CHUNK, population.count)),
                              rng, pins, now))  # fmt: skip
            conn.executemany(_PERSON_SQL, (r[0] for r in rows))
            conn.executemany(_CREDENTIAL_SQL, (r[1] for r in rows))
            conn.executemany(_AUTHORIZATION_SQL, (r[2] for r in rows))
            conn.executemany(_TRAINING_SQL, (r[3] for r in rows))
            conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file kept
    finally:
        conn.close()


_Row = tuple[object, ...]


def _rows(
    population: Population, span: range, rng: random.Random, pins: list[str], now: str
) -> Iterator[tuple[_Row, _Row, _Row, _Row]]:
    """Person, credential, authorization and training rows of persons ``span``."""
    site = population.site_id
    for i in span:
        pid, cid, aid, tid = (f"{rng.getrandbits(128):032x}" for _ in range(4))
        facility, number = divmod(i, 65536)
        pin = (
            pins[i % _PIN_POOL] if population.pin_every and i % population.pin_every == 0 else None
        )
        duress = pins[(i + 1) % _PIN_POOL] if pin else None
        yield (
            (pid, site, "staff", f"Person {i}", None, None, 1, None, now, now),
            (cid, site, pid, "H10301", facility, number, card_of(i), pin, duress, "enabled",
             None, None, now, now),
            (aid, site, pid, zone_of(population, i), "always", None, None, PURPOSE, "bench",
             now, None, None, None, None, 0),
            (tid, site, pid, COURSE, now, None, "bench", now),
        )  # fmt: skip


def _insert(table: str, columns: str) -> str:
    """An INSERT statement for the named columns of one table."""
    names = [c.strip() for c in columns.split(",")]
    marks = ", ".join("?" * len(names))
    return f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({marks})'  # noqa: S608 -- names are constants of this module


_PERSON_SQL = _insert(
    "person",
    "id, site_id, kind, name, organisation, employee_no, enabled, contract_end, created_at,"
    " updated_at",
)
_CREDENTIAL_SQL = _insert(
    "credential",
    "id, site_id, person_id, format, facility, number, card_key, pin_hash, duress_pin_hash,"
    " status, valid_from, valid_to, created_at, updated_at",
)
_AUTHORIZATION_SQL = _insert(
    "authorization",
    "id, site_id, person_id, zone_id, schedule_id, valid_from, valid_to, purpose, granted_by,"
    " granted_at, revoked_by, revoked_at, recertified_by, recertified_at, supervisor",
)
_TRAINING_SQL = _insert(
    "training_record",
    "id, site_id, person_id, course, completed_at, valid_until, recorded_by, recorded_at",
)
