"""The record writer builds the Merkle tree as it appends (SQLite and PostgreSQL, 4-8-6(4))."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from sqlalchemy import Engine, select, text

from gateway.audit.checkpoint import open_checkpoint
from gateway.audit.entry import canonical_entry, commitment, detail_text, ts_text
from gateway.audit.merkle import (
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from gateway.audit.note import Signer
from gateway.audit.tree_store import DbTree, checkpoints, latest_checkpoint
from gateway.audit.verify import verify_log
from gateway.storage.models import AUDIT_NODE_TABLE, RECORD_TABLE
from gateway.storage.record_log import RecordLog
from tests.gateway.audit.audit_support import ORIGIN, SITE, append_all, filled, policy, record

WAIT = 30.0


def _leaves(engine: Engine) -> list[bytes]:
    """Leaf hashes of the site's records in seq order, from the stored commitments."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(RECORD_TABLE.c.commitment)
            .where(RECORD_TABLE.c.site_id == SITE)
            .order_by(RECORD_TABLE.c.seq)
        ).all()
    return [leaf_hash(bytes(r[0])) for r in rows]


def test_each_commitment_is_the_salted_hash_of_the_records_canonical_json(engine: Engine) -> None:
    """Recomputed from the row as stored, each commitment matches: nothing is hashed that is
    not stored, nothing stored that is not hashed."""
    filled(engine, Signer.generate(ORIGIN), 40)
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(RECORD_TABLE)
                .where(RECORD_TABLE.c.site_id == SITE)
                .order_by(RECORD_TABLE.c.seq)
            )
            .mappings()
            .all()
        )
    assert len(rows) == 40
    for row in rows:
        entry = canonical_entry(
            SITE, row["seq"], ts_text(row["ts"]), row, detail_text(row["detail"])
        )
        assert len(row["salt"]) == 16
        assert commitment(bytes(row["salt"]), entry) == bytes(row["commitment"])
    assert len({bytes(r["salt"]) for r in rows}) == 40  # a fresh salt for every record


def test_tiles_checkpoints_and_proofs_match_an_in_memory_tree(engine: Engine) -> None:
    """600 records: tiles at level 8, checkpoints every 100 records (signed, with the right
    roots), and DB-built inclusion and consistency proofs equal to those of a plain tree."""
    signer = Signer.generate(ORIGIN)
    log = filled(engine, signer, 600, every=100)
    leaves = _leaves(engine)
    tree = MemoryTree(leaves)
    assert log.tree_root == root(tree, 600)
    with engine.connect() as conn:
        nodes = conn.execute(
            select(AUDIT_NODE_TABLE.c.level, AUDIT_NODE_TABLE.c.idx, AUDIT_NODE_TABLE.c.hash)
        ).all()
        stored = checkpoints(conn, SITE)
        db = DbTree(conn, SITE, 600)
        rng = random.Random(4)
        for _ in range(40):
            size = rng.randint(1, 600)
            index = rng.randrange(size)
            assert inclusion_proof(db, index, size) == inclusion_proof(tree, index, size)
            first = rng.randint(1, size)
            assert consistency_proof(db, first, size) == consistency_proof(tree, first, size)
        assert root(DbTree(conn, SITE, 333), 333) == root(tree, 333)
    assert sorted((lvl, idx) for lvl, idx, _ in nodes) == [(8, 0), (8, 1)]
    assert all(bytes(h) == tree.node(lvl, idx) for lvl, idx, h in nodes)
    sizes = [c.size for c in stored]
    assert sizes[-1] == 600
    assert all(b - a >= 100 for a, b in pairwise(sizes[:-1]))  # the last one: close()
    for c in stored:
        opened = open_checkpoint(c.note, [signer.verifier()], ORIGIN)
        assert opened.root == c.root == root(tree, c.size)
        assert c.key == signer.verifier().vkey
    verify_inclusion(299, 600, leaves[299], inclusion_proof(tree, 299, 600), log.tree_root)


async def test_a_quiet_log_is_checkpointed_after_t_seconds(engine: Engine) -> None:
    """With T = 0.3 s and N large, a checkpoint of the last records appears without more appends."""
    signer = Signer.generate(ORIGIN)
    log = RecordLog(engine, SITE, checkpoints=policy(signer, every=10_000, every_s=0.3))
    log.start()
    try:
        await append_all(log, [record(i) for i in range(5)])
        deadline = time.monotonic() + WAIT
        while log.checkpoint_size != 5:
            assert time.monotonic() < deadline, "no checkpoint after T seconds"
            await asyncio.sleep(0.02)
        with engine.connect() as conn:
            latest = latest_checkpoint(conn, SITE)
        assert latest is not None and latest.size == 5
        assert latest.root == log.tree_root
    finally:
        log.close(timeout=WAIT)


async def test_a_restarted_writer_continues_the_same_tree(engine: Engine) -> None:
    """The writer rebuilds the tree's edge from storage: the old checkpoint is consistent with
    the new one, and the whole log verifies."""
    signer = Signer.generate(ORIGIN)
    first = RecordLog(engine, SITE, checkpoints=policy(signer, every=50))
    first.start()
    await append_all(first, [record(i) for i in range(300)])
    first.close(timeout=WAIT)
    old_root = first.tree_root
    second = RecordLog(engine, SITE, checkpoints=policy(signer, every=50))
    second.start()
    try:
        assert second.tree_root == old_root and second.checkpoint_size == 300
        await append_all(second, [record(i) for i in range(300, 700)])
    finally:
        second.close(timeout=WAIT)
    with engine.connect() as conn:
        proof = consistency_proof(DbTree(conn, SITE, 700), 300, 700)
    verify_consistency(300, 700, old_root, second.tree_root, proof)
    report = verify_log(engine, SITE, keys=[signer.verifier()], origin=ORIGIN)
    assert report.ok, report.problems
    assert (report.size, report.root) == (700, second.tree_root)


def test_the_final_state_is_signed_on_close_and_a_log_without_key_signs_nothing(
    engine: Engine,
) -> None:
    """close() leaves a checkpoint of the last record; without a policy only hashes are kept."""
    signer = Signer.generate(ORIGIN)
    log = filled(engine, signer, 7, every=1000)
    assert log.checkpoint_size == 7
    plain = RecordLog(engine, "other")
    plain.start()
    try:
        asyncio.run(append_all(plain, [record(i) for i in range(3)]))
    finally:
        plain.close()
    with engine.connect() as conn:
        assert latest_checkpoint(conn, "other") is None
        stored = conn.execute(
            text("SELECT count(*) FROM record WHERE site_id = 'other' AND commitment IS NOT NULL")
        ).scalar_one()
    assert stored == 3
    report = verify_log(engine, "other")
    assert report.ok and report.warnings  # no key given: says signatures were not checked


@pytest.mark.parametrize("detail", [{"big": 2**60 + 1}, {"nan": float("nan")}, {"k": "\ud800"}])
async def test_records_without_a_canonical_form_are_refused_at_append(
    engine: Engine, detail: dict[str, object]
) -> None:
    """A detail JSON cannot hash exactly is a ValueError for the caller, not a failed batch."""
    log = RecordLog(engine, SITE)
    log.start()
    try:
        with pytest.raises(ValueError, match="not plain JSON"):
            await log.append(record(1, detail=detail))
        assert await log.append(record(2)) == 1
    finally:
        log.close()


def test_root_b64_matches_checkpoint_line(engine: Engine) -> None:
    """The checkpoint's third line is the base64 root, as tlog-checkpoint says."""
    signer = Signer.generate(ORIGIN)
    log = filled(engine, signer, 3, every=3)
    with engine.connect() as conn:
        latest = latest_checkpoint(conn, SITE)
    assert latest is not None
    assert latest.note.split("\n")[2] == base64.b64encode(log.tree_root).decode()
    assert datetime.now(UTC) > open_checkpoint(latest.note, [signer.verifier()]).signed_at  # type: ignore[operator]
