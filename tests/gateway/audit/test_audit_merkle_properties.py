"""Property tests of the Merkle code: any tree size, any leaves (hypothesis)."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryTree,
    ProofError,
    Subtree,
    consistency_proof,
    decompose,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    split_point,
    verify_consistency,
    verify_inclusion,
)


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 2.1.1, recursively (the definition, not our code)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = reference_root(leaves[:k]), reference_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


entries = st.lists(st.binary(max_size=40), min_size=0, max_size=140)


@settings(max_examples=150, deadline=None)
@given(entries)
def test_every_way_of_computing_the_root_agrees(leaves: list[bytes]) -> None:
    """Frontier, tree and the RFC's recursive definition give the same head."""
    hashes = [leaf_hash(x) for x in leaves]
    frontier = Frontier()
    for digest in hashes:
        frontier.append(digest)
    expected = reference_root(leaves)
    assert frontier.root() == expected
    assert root(MemoryTree(hashes), len(hashes)) == expected
    assert frontier.size == len(leaves)
    assert [(s.level, s.index) for s in frontier.subtrees()] == decompose(len(leaves))
    rebuilt = Frontier(frontier.subtrees())
    assert rebuilt.root() == expected


@settings(max_examples=150, deadline=None)
@given(entries.filter(bool), st.data())
def test_inclusion_proofs_verify_and_fail_for_other_leaves(
    leaves: list[bytes], data: st.DataObject
) -> None:
    """Any leaf's proof verifies; the same proof does not for a different leaf or index."""
    hashes = [leaf_hash(x) for x in leaves]
    tree = MemoryTree(hashes)
    size = data.draw(st.integers(1, len(hashes)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    head = root(tree, size)
    path = inclusion_proof(tree, index, size)
    verify_inclusion(index, size, hashes[index], path, head)
    other = leaf_hash(b"not" + leaves[index])
    try:
        verify_inclusion(index, size, other, path, head)
    except ProofError:
        pass
    else:
        raise AssertionError("a proof verified a different leaf")
    if size > 1:
        wrong = (index + 1) % size
        if hashes[wrong] != hashes[index]:
            try:
                verify_inclusion(wrong, size, hashes[index], path, head)
            except ProofError:
                pass
            else:
                raise AssertionError("a proof verified the leaf at another index")


@settings(max_examples=150, deadline=None)
@given(entries.filter(bool), st.data())
def test_consistency_proofs_verify_and_catch_a_rewritten_prefix(
    leaves: list[bytes], data: st.DataObject
) -> None:
    """A proof from any size to any larger one verifies; after rewriting a leaf it fails."""
    hashes = [leaf_hash(x) for x in leaves]
    tree = MemoryTree(hashes)
    second = data.draw(st.integers(1, len(hashes)), label="second")
    first = data.draw(st.integers(1, second), label="first")
    proof = consistency_proof(tree, first, second)
    verify_consistency(first, second, root(tree, first), root(tree, second), proof)
    if first == second:
        return
    victim = data.draw(st.integers(0, first - 1), label="victim")
    forged = list(hashes)
    forged[victim] = leaf_hash(b"forged" + leaves[victim])
    forked = MemoryTree(forged)
    try:
        verify_consistency(
            first,
            second,
            root(tree, first),
            root(forked, second),
            consistency_proof(forked, first, second),
        )
    except ProofError:
        return
    raise AssertionError("a fork passed the consistency check")


@given(st.integers(2, 1 << 40))
def test_split_point_is_the_largest_power_of_two_below(size: int) -> None:
    """k < n <= 2k, k a power of two."""
    k = split_point(size)
    assert k & (k - 1) == 0 and k < size <= 2 * k


def test_frontier_reports_every_tile_it_completes() -> None:
    """With stride 2, a 16-leaf tree reports its level-2 and level-4 subtrees, in order."""
    seen: list[Subtree] = []
    frontier = Frontier(stride=2, on_node=seen.append)
    hashes = [leaf_hash(bytes([i])) for i in range(16)]
    for digest in hashes:
        frontier.append(digest)
    tree = MemoryTree(hashes)
    assert [(s.level, s.index) for s in seen] == [(2, 0), (2, 1), (2, 2), (2, 3), (4, 0)]
    assert all(s.hash == tree.node(s.level, s.index) for s in seen)
    assert Frontier().root() == EMPTY_ROOT
    assert node_hash(tree.node(3, 0), tree.node(3, 1)) == frontier.root()
