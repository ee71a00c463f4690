"""The compact access index: what it answers equals what the object index answered, on SQLite
and PostgreSQL, before and after the API changes people; and its columns round-trip.

The reference is ``AccessIndex._load`` — the per-person path that builds ordinary
``CredentialEntry`` objects straight from the rows (the whole index worked that way before the
compact store), run over the whole site.
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, update
from sqlmodel import Session

from gateway.access_index import AccessIndex
from gateway.compact import IdColumn, RowTable, SparseTextColumn, TextColumn, TimeColumn
from gateway.config.site import ALWAYS, SiteConfig
from gateway.credential_store import StoreBuilder, card_code, card_key_of, masked_of
from gateway.decision import AuthorizationEntry
from gateway.domain import CardId, CredentialFormat, CredentialStatus, PersonKind
from gateway.schedule import CompiledSchedule
from gateway.storage.models import (
    Authorization,
    Credential,
    Person,
    TrainingRecord,
    WorkOrder,
)

SITE_ID = "hq"
SITE = SiteConfig.model_validate(
    {
        "site": {"id": SITE_ID, "name": "HQ"},
        "zones": [
            {"id": "srv", "name": "Server room", "recertify_days": 90},
            {"id": "vault", "name": "Media vault", "kind": "media_vault"},
        ],
        "doors": [],
        "schedules": [{"id": "office", "week": {"mon": ["08:00-20:00"]}}],
    }
)
T0 = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
ALWAYS_C = CompiledSchedule.compile(ALWAYS)


def add_person(
    engine: Engine,
    name: str,
    cards: tuple[str, ...],
    *,
    person_id: str | None = None,
    site_id: str = SITE_ID,
    kind: PersonKind = PersonKind.STAFF,
    zones: tuple[tuple[str, str], ...] = (("srv", "always"),),
    **cred: object,
) -> str:
    """A person with cards, authorizations and a training; returns the person id."""
    with Session(engine) as s:
        person = Person(
            site_id=site_id,
            kind=kind,
            name=name,
            contract_end=T0 + timedelta(days=30) if kind is PersonKind.CONTRACTOR else None,
        )
        if person_id is not None:
            person.id = person_id
        s.add(person)
        s.flush()
        for card in cards:
            c = CardId.parse(card)
            s.add(
                Credential(
                    site_id=site_id,
                    person_id=person.id,
                    format=c.format,
                    facility=c.facility,
                    number=c.number,
                    card_key=card,
                    **cred,  # type: ignore[arg-type]
                )
            )
        for n, (zone, schedule) in enumerate(zones):
            s.add(
                Authorization(
                    site_id=site_id,
                    person_id=person.id,
                    zone_id=zone,
                    schedule_id=schedule,
                    purpose=f"purpose {n}" if n else "operations",
                    granted_by="t",
                    granted_at=T0 - timedelta(days=n),
                    valid_to=T0 + timedelta(days=365) if n else None,
                    supervisor=n == 1,
                )
            )
        s.add(
            TrainingRecord(
                site_id=site_id,
                person_id=person.id,
                course="pi-handling",
                completed_at=T0,
                valid_until=T0 + timedelta(days=90),
                recorded_by="t",
            )
        )
        s.commit()
        return person.id


def populate(engine: Engine) -> dict[str, str]:
    """A site with the awkward cases; returns name → person id."""
    ids = {
        "plain": add_person(engine, "Plain", ("H10301:1:1",)),
        "two cards": add_person(engine, "Two Cards", ("H10301:1:2", "EM4100:10:305419896")),
        "pins": add_person(
            engine,
            "佐藤 花子",  # not ASCII
            ("C1000:4095:1048575",),  # the largest facility and number of the format
            pin_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            duress_pin_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdDI$aGFzaDI",
            valid_from=T0,
            valid_to=T0 + timedelta(days=7),
            status=CredentialStatus.LOST,
        ),
        "zones": add_person(
            engine,
            "Three Zones",
            ("H10304:65535:524287",),
            zones=(("srv", "always"), ("vault", "office"), ("srv", "office")),
        ),
        "contractor": add_person(engine, "Contractor", ("H10301:2:7",), kind=PersonKind.CONTRACTOR),
        "odd id": add_person(engine, "Odd Id", ("H10301:2:8",), person_id="p-not-hex"),
        "no cards": add_person(engine, "No Cards", ()),
        "gone schedule": add_person(
            engine, "Gone Schedule", ("H10301:2:9",), zones=(("srv", "not-in-site-file"),)
        ),
    }
    add_person(engine, "Other Site", ("H10301:3:1",), site_id="elsewhere")
    with Session(engine) as s:
        s.add(
            WorkOrder(
                site_id=SITE_ID,
                person_id=ids["plain"],
                zone_id="srv",
                purpose="swap disk",
                valid_from=T0,
                valid_to=T0 + timedelta(hours=4),
                status="approved",
                requested_by="t",
            )
        )
        s.add(
            WorkOrder(
                site_id=SITE_ID,
                person_id=ids["plain"],
                zone_id="srv",
                purpose="not approved",
                valid_from=T0,
                valid_to=T0 + timedelta(hours=4),
                requested_by="t",
            )
        )
        s.add(
            Authorization(
                site_id=SITE_ID,
                person_id=ids["plain"],
                zone_id="vault",
                granted_by="t",
                revoked_at=T0,  # revoked: not in the index
            )
        )
        disabled = s.get(Person, ids["two cards"])
        assert disabled is not None
        disabled.enabled = False
        s.commit()
    return ids


def reference(index: AccessIndex, engine: Engine) -> dict[str, object]:
    """Card key → entry as the object path builds it for the whole site."""
    with engine.connect() as conn:
        by_card, _ = index._load(conn, None)
    return dict(by_card)


def test_every_card_answers_as_the_object_index_did(engine: Engine) -> None:
    ids = populate(engine)
    index = AccessIndex(SITE)
    index.load_all(engine)
    expected = reference(index, engine)
    assert len(expected) == 8
    assert len(index) == len(expected)
    for key, entry in expected.items():
        assert index.lookup(key) == entry, key
        assert index.lookup(key) == entry, f"{key} (from the cache)"
    assert index.lookup("H10301:3:1") is None  # another site's card
    assert index.lookup("H10301:1:3") is None
    assert index.lookup("h10301:1:1") is None  # not canonical: never what a reader sends
    assert index.lookup("H10301:01:1") is None
    assert index.lookup("garbage") is None
    three = index.lookup("H10304:65535:524287")
    assert three is not None
    assert [a.zone_id for a in three.authorizations] == ["srv", "vault", "srv"]  # load order
    assert three.authorizations[1].supervisor
    plain = index.lookup("H10301:1:1")
    assert plain is not None
    assert [w.purpose for w in plain.work_orders] == ["swap disk"]
    assert [a.zone_id for a in plain.authorizations] == ["srv"]  # the revoked one is not there
    assert index.lookup("H10301:2:9") is not None  # its authorization is ignored, not the card
    entries = index.entries_of(ids["two cards"])
    assert sorted(e.card_key for e in entries) == ["EM4100:10:305419896", "H10301:1:2"]
    assert index.entries_of(ids["odd id"])[0].person_id == "p-not-hex"
    assert index.entries_of(ids["no cards"]) == []
    assert index.entries_of("nobody") == []


def test_reloading_a_person_replaces_their_cards(engine: Engine) -> None:
    ids = populate(engine)
    index = AccessIndex(SITE)
    index.load_all(engine)
    assert index.lookup("H10301:1:2") is not None  # cached now
    with Session(engine) as s:
        s.execute(
            update(Credential)
            .where(Credential.card_key == "H10301:1:2")  # type: ignore[arg-type]
            .values(status=CredentialStatus.STOLEN)
        )
        s.execute(
            update(Credential)
            .where(Credential.card_key == "EM4100:10:305419896")  # type: ignore[arg-type]
            .values(person_id=ids["plain"])  # the tag moves to another person
        )
        s.commit()
    before = len(index)
    index.reload_person(engine, ids["two cards"])
    stolen = index.lookup("H10301:1:2")
    assert stolen is not None
    assert stolen.status is CredentialStatus.STOLEN
    assert index.lookup("EM4100:10:305419896") is None  # no longer theirs; plain not reloaded
    index.reload_person(engine, ids["plain"])
    moved = index.lookup("EM4100:10:305419896")
    assert moved is not None
    assert moved.person_id == ids["plain"]
    assert len(index) == before
    assert [e.card_key for e in index.entries_of(ids["two cards"])] == ["H10301:1:2"]
    assert sorted(e.card_key for e in index.entries_of(ids["plain"])) == [
        "EM4100:10:305419896",
        "H10301:1:1",
    ]
    assert reference(index, engine) == {k: index.lookup(k) for k in reference(index, engine)}
    with Session(engine) as s:
        s.execute(
            update(Credential)
            .where(Credential.person_id == ids["plain"])  # type: ignore[arg-type]
            .values(person_id=ids["no cards"])
        )
        s.commit()
    index.reload_person(engine, ids["plain"])
    assert index.lookup("H10301:1:1") is None
    assert index.entries_of(ids["plain"]) == []
    index.reload_person(engine, ids["no cards"])
    assert sorted(e.card_key for e in index.entries_of(ids["no cards"])) == [
        "EM4100:10:305419896",
        "H10301:1:1",
    ]
    index.load_all(engine)  # folds the overlay back into a new store
    assert reference(index, engine) == {k: index.lookup(k) for k in reference(index, engine)}


def test_a_revoked_card_never_comes_back_from_the_cache(engine: Engine) -> None:
    """Reloads in a worker thread while the loop looks the card up (as the runtime does)."""
    pid = add_person(engine, "Revoked", ("H10301:9:9",))
    index = AccessIndex(SITE)
    index.load_all(engine)
    with Session(engine) as s:
        s.execute(
            update(Credential)
            .where(Credential.person_id == pid)  # type: ignore[arg-type]
            .values(status=CredentialStatus.DISABLED)
        )
        s.commit()
    done = threading.Event()

    def reload() -> None:
        """The API's side: reload the person again and again."""
        for _ in range(20):
            index.reload_person(engine, pid)
        done.set()

    thread = threading.Thread(target=reload)
    thread.start()
    while not done.is_set():
        index.lookup("H10301:9:9")
    thread.join()
    entry = index.lookup("H10301:9:9")
    assert entry is not None
    assert entry.status is CredentialStatus.DISABLED


def test_replace_puts_entries_in_front(engine: Engine) -> None:
    ids = populate(engine)
    index = AccessIndex(SITE)
    index.load_all(engine)
    plain = index.lookup("H10301:1:1")
    assert plain is not None
    index.replace([replace(plain, person_name="Renamed")])
    renamed = index.lookup("H10301:1:1")
    assert renamed is not None
    assert renamed.person_name == "Renamed"
    assert [e.person_name for e in index.entries_of(ids["plain"])] == ["Renamed"]


def test_the_cache_stays_small(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.access_index.CACHE_SIZE", 2)
    keys = [f"H10301:5:{n}" for n in range(5)]
    for n, key in enumerate(keys):
        add_person(engine, f"P{n}", (key,))
    index = AccessIndex(SITE)
    index.load_all(engine)
    for _ in range(2):
        assert [e.card_key if (e := index.lookup(k)) else None for k in keys] == keys
    assert len(index._cache) == 2


def test_rows_given_out_of_person_order_are_grouped() -> None:
    """The database may return what people hold in any order: the store groups it, keeping
    each person's own order."""
    b = StoreBuilder()
    people = ["p0", "p1", "p2", "0123456789abcdef0123456789abcdef"]
    for n, pid in enumerate(people):
        b.person(pid, f"N{n}", PersonKind.STAFF, enabled=n != 1, contract_end=None)
    cards = [("H10301:0:5", 2), ("H10301:0:1", 0), ("H10301:0:6", 2), ("H10301:0:3", 1)]
    for n, (card, owner) in enumerate(cards):
        assert b.credential(
            f"c{n}",
            people[owner],
            card,
            status=CredentialStatus.ENABLED,
            valid_from=T0 if owner == 2 else None,
            valid_to=None,
            pin_hash=f"h{n}" if n % 2 == 0 else None,
            duress_pin_hash=None,
        )
    assert not b.credential(
        "c9", "nobody", "H10301:0:9", status=CredentialStatus.ENABLED, valid_from=None,
        valid_to=None, pin_hash=None, duress_pin_hash=None,
    )  # fmt: skip
    for n, owner in enumerate([3, 2, 0, 2]):
        auth = AuthorizationEntry(f"a{n}", f"zone{n}", ALWAYS_C, None, None, None, T0, False)
        b.authorization(people[owner], auth)
    for course, owner in [("x", 2), ("y", 0), ("z", 2)]:
        b.training(people[owner], course, None)
    store = b.build()
    assert len(store) == 4
    for n, (card, owner) in enumerate(cards):
        entry = store.entry(store.find(card))
        assert (entry.credential_id, entry.person_id) == (f"c{n}", people[owner])
        assert entry.pin_hash == (f"h{n}" if n % 2 == 0 else None)
        assert entry.valid_from == (T0 if owner == 2 else None)
        assert entry.person_enabled is (owner != 1)
    two = store.entry(store.find("H10301:0:6"))
    assert [a.authorization_id for a in two.authorizations] == ["a1", "a3"]
    assert [t.course for t in two.trainings] == ["x", "z"]
    assert [store.card_key(r) for r in store.credential_rows(store.person_row("p2"))] == [
        "H10301:0:5",
        "H10301:0:6",
    ]
    assert list(store.credential_rows(store.person_row(people[3]))) == []
    assert store.find("H10301:0:9") == -1


@given(
    fmt=st.sampled_from(list(CredentialFormat)),
    facility=st.integers(min_value=0, max_value=65535),
    number=st.integers(min_value=0, max_value=(1 << 32) - 1),
)
def test_card_codes_round_trip(fmt: CredentialFormat, facility: int, number: int) -> None:
    key = f"{fmt.value}:{facility}:{number}"
    try:
        card = CardId.parse(key)
    except ValueError:
        assert card_code(key) is None  # out of the format's range
        return
    code = card_code(card.key)
    assert code is not None
    assert card_key_of(code) == card.key
    assert masked_of(code) == card.masked


@pytest.mark.parametrize(
    "key",
    ["H10301:1", "H10301:1:2:3", "X:1:2", "H10301:-1:2", "H10301:1:٣", "H10301:1: 2", "H10301::2"],
)
def test_odd_card_keys_have_no_code(key: str) -> None:
    assert card_code(key) is None


def test_columns_round_trip() -> None:
    ids, text, sparse, times = IdColumn(), TextColumn(), SparseTextColumn(), TimeColumn()
    values = ["0123456789abcdef0123456789abcdef", "ABCDEF", "", "0" * 32]
    for v in values:
        ids.append(v)
    assert [ids.get(i) for i in range(4)] == values
    for v in ["", None, "名前", "x"]:
        text.append(v)
    assert [text.get(i) for i in range(4)] == ["", None, "名前", "x"]
    for v in [None, None, "h", None]:
        sparse.append(v)
    assert [sparse.get(i) for i in range(4)] == [None, None, "h", None]
    times.append(None)
    assert times.nbytes() == 0  # nothing allocated while every value is None
    when = [None, T0, datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]
    for t in when[1:]:
        times.append(t)
    assert [times.get(i) for i in range(4)] == when
    table = RowTable(3)
    for row, key in enumerate([5, 5 + (1 << 40), 7]):
        table.add(key, row)
    keys = array("Q", [5, 5 + (1 << 40), 7])
    assert [table.find(k, keys) for k in (5, 5 + (1 << 40), 7, 8)] == [0, 1, 2, -1]
