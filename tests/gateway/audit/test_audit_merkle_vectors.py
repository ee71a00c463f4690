"""RFC 9162 tree hashes and proofs against published test vectors.

The vectors are those of transparency-dev/merkle (``testonly/constants.go`` and
``proof/verify_test.go``, Apache-2.0): eight leaf inputs, the root of every tree size 0-8, and
inclusion and consistency proofs between them. Every corrupted variant of a good proof that
their tests try must fail here too.
"""

from __future__ import annotations

import pytest

from gateway.audit.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]  # fmt: skip
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
LEVEL0 = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]


def h(text: str) -> bytes:
    """Hex to bytes."""
    return bytes.fromhex(text)


# (leaf index, tree size, proof) — leaf numbers in the source are 1-based.
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]  # fmt: skip
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

TREE = MemoryTree([leaf_hash(x) for x in LEAF_INPUTS])


def test_leaf_and_empty_hashes() -> None:
    """Leaf hashes of the inputs and the empty tree's hash are the published ones."""
    assert [leaf_hash(x).hex() for x in LEAF_INPUTS] == LEVEL0
    assert root(TREE, 0) == EMPTY_ROOT == ROOTS[0]
    assert node_hash(h(LEVEL0[0]), h(LEVEL0[1])).hex() == (
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
    )


@pytest.mark.parametrize("size", range(9))
def test_root_of_every_size(size: int) -> None:
    """The tree head of the first ``size`` leaves."""
    tree = MemoryTree([leaf_hash(x) for x in LEAF_INPUTS[:size]])
    assert root(tree, size) == ROOTS[size]
    assert root(TREE, size) == ROOTS[size]  # a prefix of the bigger tree gives the same head


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vectors_are_generated_and_verified(
    index: int, size: int, proof: list[str]
) -> None:
    """Our generator gives the published path; the verifier accepts it."""
    path = inclusion_proof(TREE, index, size)
    assert [p.hex() for p in path] == proof
    verify_inclusion(index, size, leaf_hash(LEAF_INPUTS[index]), path, ROOTS[size])


def _inclusion_probes(
    index: int, size: int, path: list[bytes], leaf: bytes, head: bytes
) -> list[tuple[str, int, int, bytes, list[bytes], bytes]]:
    """Corruptions of a good inclusion proof (as transparency-dev's tests make them)."""
    probes = [
        ("index - 1", index - 1, size, leaf, path, head),
        ("index + 1", index + 1, size, leaf, path, head),
        ("index ^ 2", index ^ 2, size, leaf, path, head),
        ("size * 2", index, size * 2, leaf, path, head),
        ("size / 2", index, size // 2, leaf, path, head),
        ("wrong leaf", index, size, leaf_hash(b"WrongLeaf"), path, head),
        ("empty root", index, size, leaf, path, EMPTY_ROOT),
        ("random root", index, size, leaf, path, SOME_HASH),
        ("trailing garbage", index, size, leaf, [*path, b""], head),
        ("trailing root", index, size, leaf, [*path, head], head),
        ("preceding garbage", index, size, leaf, [b"", *path], head),
        ("preceding root", index, size, leaf, [head, *path], head),
    ]
    for i in range(len(path)):
        bad = list(path)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((f"bit flip in [{i}]", index, size, leaf, bad, head))
    if path:
        probes.append(("removed component", index, size, leaf, path[:-1], head))
    if len(path) > 1:
        probes.append(
            ("inserted component", index, size, leaf, [path[0], SOME_HASH, *path[1:]], head)
        )
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[str]) -> None:
    """No corruption of a good proof verifies."""
    path = [h(p) for p in proof]
    accepted = []
    for name, i, n, leaf, p, head in _inclusion_probes(
        index, size, path, leaf_hash(LEAF_INPUTS[index]), ROOTS[size]
    ):
        if i < 0:
            continue
        try:
            verify_inclusion(i, n, leaf, p, head)
        except ProofError:
            continue
        accepted.append(name)
    assert not accepted


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_vectors_are_generated_and_verified(
    first: int, second: int, proof: list[str]
) -> None:
    """Our generator gives the published proof; the verifier accepts it; corruptions fail."""
    path = consistency_proof(TREE, first, second)
    assert [p.hex() for p in path] == proof
    r1, r2 = ROOTS[first], ROOTS[second]
    verify_consistency(first, second, r1, r2, path)
    if not path:
        return
    probes = [
        (first - 1, second, r1, r2, path),
        (first + 1, second, r1, r2, path),
        (first ^ 2, second, r1, r2, path),
        (first, second * 2, r1, r2, path),
        (first, second // 2, r1, r2, path),
        (first, second, SOME_HASH, r2, path),
        (first, second, r1, SOME_HASH, path),
        (first, second, r2, r1, path),
        (first, second, r1, r2, []),
        (first, second, r1, r2, [*path, r1]),
        (first, second, r1, r2, [*path, r2]),
        (first, second, r1, r2, [r1, *path]),
        (first, second, r1, r2, [r2, *path]),
        (first, second, r1, r2, [path[0], *path]),
        (first, second, r1, r2, path[:-1]),
    ]
    for i in range(len(path)):
        bad = list(path)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((first, second, r1, r2, bad))
    accepted = []
    for n1, n2, a, b, p in probes:
        if n1 <= 0 or n1 == n2:
            continue
        try:
            verify_consistency(n1, n2, a, b, p)
        except ProofError:
            continue
        accepted.append((n1, n2, len(p)))
    assert not accepted


def test_edge_cases_of_consistency() -> None:
    """Sizes that are always consistent, time travel, and non-empty proofs where none belongs."""
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    for args in (
        (3, 3, ROOTS[3], ROOTS[4], []),  # two heads for one size: a fork
        (4, 3, ROOTS[4], ROOTS[3], []),  # the log went back
        (1, 2, ROOTS[1], ROOTS[2], []),  # empty proof between different sizes
        (0, 1, EMPTY_ROOT, ROOTS[1], [EMPTY_ROOT]),
        (1, 1, ROOTS[1], ROOTS[1], [EMPTY_ROOT]),
    ):
        with pytest.raises(ProofError):
            verify_consistency(*args)
    with pytest.raises(ProofError):
        inclusion_proof(TREE, 8, 8)
    with pytest.raises(ProofError):
        consistency_proof(TREE, 5, 4)
