"""The Merkle tree as stored: record commitments (level 0) and tiles of subtree hashes.

Every complete subtree whose level is a multiple of :data:`TILE_HEIGHT` is kept in
``audit_node``; the level-0 hashes are the records' own leaf hashes. Any other complete
subtree is rebuilt from at most 2**7 stored hashes below it, read with one range query, so
a proof or a root at any size costs a handful of indexed reads (tlog-style tiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, func, select

from gateway.audit.checkpoint import Checkpoint
from gateway.audit.merkle import (
    Frontier,
    ProofError,
    Subtree,
    decompose,
    leaf_hash,
    node_hash,
)
from gateway.storage.models import AUDIT_CHECKPOINT_TABLE, AUDIT_NODE_TABLE, RECORD_TABLE

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT

_R: Final = RECORD_TABLE
_N: Final = AUDIT_NODE_TABLE
_C: Final = AUDIT_CHECKPOINT_TABLE


class TreeDamaged(Exception):
    """The stored tree is missing a commitment or a tile hash: run ``sekisho audit verify``."""


def reduce_level(hashes: Sequence[bytes]) -> bytes:
    """The root of a complete subtree given its 2**k hashes one level (or k levels) below."""
    row = list(hashes)
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


class DbTree:
    """A NodeSource over one site's stored tree as it was at ``size`` leaves."""

    def __init__(self, conn: Connection, site_id: str, size: int) -> None:
        """Read through ``conn``; tiles are cached for the life of this object."""
        self._conn = conn
        self._site_id = site_id
        self._size = size
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    @property
    def size(self) -> int:
        """The tree size this source answers for."""
        return self._size

    def node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``(level, index)``, which must lie within ``size``."""
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise ProofError(f"subtree ({level}, {index}) is not complete at size {self._size}")
        base = level - level % TILE_HEIGHT
        span = level - base
        first = index << span
        tile = self._tile(base, first >> TILE_HEIGHT)
        offset = first % TILE_WIDTH
        return reduce_level(tile[offset : offset + (1 << span)])

    def _tile(self, base: int, tile: int) -> list[bytes]:
        """The stored hashes at level ``base`` of one tile, as far as the tree size reaches."""
        key = (base, tile)
        cached = self._tiles.get(key)
        if cached is not None:
            return cached
        lo = tile * TILE_WIDTH
        hi = min(lo + TILE_WIDTH, self._size >> base)
        if base == 0:
            hashes = self._leaves(lo, hi)
        else:
            rows = self._conn.execute(
                select(_N.c.idx, _N.c.hash)
                .where(
                    _N.c.site_id == self._site_id,
                    _N.c.level == base,
                    _N.c.idx >= lo,
                    _N.c.idx < hi,
                )
                .order_by(_N.c.idx)
            ).all()
            if [int(r[0]) for r in rows] != list(range(lo, hi)):
                raise TreeDamaged(f"stored tree hashes at level {base} [{lo}, {hi}) are missing")
            hashes = [bytes(r[1]) for r in rows]
        self._tiles[key] = hashes
        return hashes

    def _leaves(self, lo: int, hi: int) -> list[bytes]:
        """Leaf hashes of leaves [lo, hi) (records lo+1 .. hi)."""
        rows = self._conn.execute(
            select(_R.c.seq, _R.c.commitment)
            .where(_R.c.site_id == self._site_id, _R.c.seq > lo, _R.c.seq <= hi)
            .order_by(_R.c.seq)
        ).all()
        if [int(r[0]) for r in rows] != list(range(lo + 1, hi + 1)):
            raise TreeDamaged(f"records {lo + 1}..{hi} are not all there")
        out = []
        for seq, value in rows:
            if value is None or len(value) != 32:
                raise TreeDamaged(f"record {seq} has no commitment")
            out.append(leaf_hash(bytes(value)))
        return out


def frontier_at(conn: Connection, site_id: str, size: int) -> Frontier:
    """The compact range of the stored tree at ``size`` (the writer's state after a restart)."""
    tree = DbTree(conn, site_id, size)
    return Frontier(
        [Subtree(level, index, tree.node(level, index)) for level, index in decompose(size)],
        stride=TILE_HEIGHT,
    )


def head(conn: Connection, site_id: str) -> int:
    """The site's highest seq: the size of its tree (0 for an empty log)."""
    value = conn.execute(
        select(func.coalesce(func.max(_R.c.seq), 0)).where(_R.c.site_id == site_id)
    ).scalar_one()
    return int(value)


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A checkpoint row: the signed note and the verifier key that signed it."""

    size: int
    root: bytes
    note: str
    key: str


def latest_checkpoint(conn: Connection, site_id: str) -> StoredCheckpoint | None:
    """The site's newest checkpoint, or None when none has been signed yet."""
    row = conn.execute(
        select(_C.c.size, _C.c.root, _C.c.note, _C.c.key)
        .where(_C.c.site_id == site_id)
        .order_by(_C.c.size.desc())
        .limit(1)
    ).first()
    return None if row is None else StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], row[3])


def checkpoints(conn: Connection, site_id: str) -> list[StoredCheckpoint]:
    """Every checkpoint of the site, oldest first."""
    rows = conn.execute(
        select(_C.c.size, _C.c.root, _C.c.note, _C.c.key)
        .where(_C.c.site_id == site_id)
        .order_by(_C.c.size)
    ).all()
    return [StoredCheckpoint(int(r[0]), bytes(r[1]), r[2], r[3]) for r in rows]


def checkpoint_row(site_id: str, checkpoint: Checkpoint, key: str) -> dict[str, object]:
    """Insert parameters of a checkpoint."""
    return {
        "site_id": site_id,
        "size": checkpoint.size,
        "root": checkpoint.root,
        "note": checkpoint.note,
        "key": key,
        "created_at": checkpoint.signed_at,
    }
