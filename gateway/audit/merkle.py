"""RFC 9162 (Certificate Transparency 2.0) Merkle tree: hashes, proofs and their verification.

leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right), and the tree over n
entries splits at the largest power of two below n (RFC 9162 2.1.1). Everything here is pure:
proof *generation* takes a :class:`NodeSource` that yields the hash of any complete, aligned
subtree, so the same code runs over an in-memory list (tests, exports) or the database's
stored tiles (``gateway.audit.tree_store``).

A subtree is named by ``(level, index)``: it covers leaves ``[index << level, (index + 1) <<
level)``. Leaf indexes are zero-based; a record's leaf index is ``seq - 1``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256()

_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof does not verify, or the sizes asked for make no sense."""


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two strictly below ``size`` (``size`` >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def is_complete(lo: int, hi: int) -> bool:
    """True when leaves [lo, hi) form one complete, aligned subtree."""
    size = hi - lo
    return size > 0 and size & (size - 1) == 0 and lo % size == 0


class NodeSource(Protocol):
    """Where proof generation reads the hashes of complete subtrees from."""

    def node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``(level, index)``."""


def range_hash(source: NodeSource, lo: int, hi: int) -> bytes:
    """MTH of leaves [lo, hi) as RFC 9162 defines it (lo aligned as every RFC subtree is)."""
    if hi <= lo:
        raise ProofError(f"empty range [{lo}, {hi})")
    if is_complete(lo, hi):
        level = (hi - lo).bit_length() - 1
        return source.node(level, lo >> level)
    k = split_point(hi - lo)
    return node_hash(range_hash(source, lo, lo + k), range_hash(source, lo + k, hi))


def root(source: NodeSource, size: int) -> bytes:
    """The tree head hash over the first ``size`` leaves."""
    return EMPTY_ROOT if size == 0 else range_hash(source, 0, size)


def inclusion_proof(source: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, leaf to root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(range_hash(source, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(source, lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(source: NodeSource, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 2.1.4.1."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to {second}")
    if first in (0, second):
        return []
    return _subproof(source, first, 0, second, complete=True)


def _subproof(source: NodeSource, m: int, lo: int, hi: int, *, complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) of RFC 9162 2.1.4.1."""
    size = hi - lo
    if m == size:
        return [] if complete else [range_hash(source, lo, hi)]
    k = split_point(size)
    if m <= k:
        return [
            *_subproof(source, m, lo, lo + k, complete=complete),
            range_hash(source, lo + k, hi),
        ]
    return [*_subproof(source, m - k, lo + k, hi, complete=False), range_hash(source, lo, lo + k)]


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root a leaf and its inclusion path imply (RFC 9162 2.1.3.2); ProofError if malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    _check_hashes([leaf, *path])
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless ``path`` proves ``leaf`` at ``index`` in the tree with ``root``."""
    if root_from_inclusion(index, size, leaf, path) != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the tree head")


def verify_consistency(  # noqa: PLR0912  (RFC 9162 2.1.4.2, step by step)
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> None:
    """Raise ProofError unless ``path`` proves tree ``second`` extends tree ``first`` (2.1.4.2)."""
    _check_hashes([first_root, second_root, *path])
    if not 0 <= first <= second:
        raise ProofError(f"size {second} is smaller than size {first}: the log went back")
    if first == second:
        if path:
            raise ProofError("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError(f"two different tree heads for size {first}: the log forked")
        return
    if first == 0:
        if path:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not path:
        raise ProofError("consistency proof is empty")
    nodes = list(path)
    if first & (first - 1) == 0:
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is high")
    if fr != first_root:
        raise ProofError(f"consistency proof does not lead to the tree head of size {first}")
    if sr != second_root:
        raise ProofError(f"consistency proof does not lead to the tree head of size {second}")


def _check_hashes(hashes: Iterable[bytes]) -> None:
    """ProofError unless every item is a 32-byte hash."""
    for h in hashes:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ProofError("a proof hash is not 32 bytes")


@dataclass(frozen=True, slots=True)
class Subtree:
    """A complete, aligned subtree and its hash."""

    level: int
    index: int
    hash: bytes


class Frontier:
    """The compact range [0, size): one hash per complete subtree on the right edge.

    Appending costs one leaf hash plus, on average, one node hash; the root costs at most
    log2(size) node hashes. ``on_node`` is told of every complete subtree formed whose level
    is a multiple of ``stride`` (the writer stores those: the tree's "tiles").
    """

    __slots__ = ("_hashes", "_levels", "_on_node", "_size", "_stride")

    def __init__(
        self,
        subtrees: Sequence[Subtree] = (),
        *,
        stride: int = 0,
        on_node: Callable[[Subtree], None] | None = None,
    ) -> None:
        """A frontier holding ``subtrees`` (largest first, as :func:`decompose` gives them)."""
        self._levels = [s.level for s in subtrees]
        self._hashes = [s.hash for s in subtrees]
        self._size = sum(1 << s.level for s in subtrees)
        self._stride = stride
        self._on_node = on_node

    @property
    def size(self) -> int:
        """Number of leaves appended."""
        return self._size

    def subtrees(self) -> list[Subtree]:
        """The right-edge complete subtrees, largest first."""
        out = []
        offset = 0
        for level, h in zip(self._levels, self._hashes, strict=True):
            out.append(Subtree(level, offset >> level, h))
            offset += 1 << level
        return out

    def copy(self, *, on_node: Callable[[Subtree], None] | None = None) -> Frontier:
        """An independent copy (a writer's tentative state for one batch)."""
        other = Frontier(stride=self._stride, on_node=on_node)
        other._levels = list(self._levels)
        other._hashes = list(self._hashes)
        other._size = self._size
        return other

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        self.append_subtree(0, leaf)

    def append_subtree(self, level: int, digest: bytes) -> None:
        """Append a complete subtree of 2**level leaves; the size must be a multiple of it."""
        if self._size % (1 << level):
            raise ValueError(f"a level-{level} subtree cannot start at leaf {self._size}")
        if self._levels and self._levels[-1] < level:
            raise ValueError("subtrees must be appended smallest-last")
        levels, hashes = self._levels, self._hashes
        self._size += 1 << level
        while levels and levels[-1] == level:
            levels.pop()
            digest = node_hash(hashes.pop(), digest)
            level += 1
            if self._on_node is not None and self._stride and level % self._stride == 0:
                self._on_node(Subtree(level, (self._size >> level) - 1, digest))
        levels.append(level)
        hashes.append(digest)

    def root(self) -> bytes:
        """The tree head hash of the leaves appended so far."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r


def decompose(size: int) -> list[tuple[int, int]]:
    """The complete subtrees ``(level, index)`` that make up [0, size), largest first."""
    out = []
    offset = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size & (1 << level):
            out.append((level, offset >> level))
            offset += 1 << level
    return out


class MemoryTree:
    """A NodeSource over leaf hashes held in memory, with every interior hash cached."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        """Build over ``leaves`` (leaf hashes, not entries)."""
        self._levels: list[list[bytes]] = [list(leaves)]
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            self._levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``(level, index)``."""
        if level >= len(self._levels) or index >= len(self._levels[level]):
            raise ProofError(f"subtree ({level}, {index}) is not complete in this tree")
        return self._levels[level][index]
