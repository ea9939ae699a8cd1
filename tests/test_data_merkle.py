from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_airecovery.data.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    leaf_hash,
    root_of_leaves,
)


def _leaves(count: int) -> list[bytes]:
    return [leaf_hash(str(i), hashlib.sha256(str(i).encode()).digest()) for i in range(count)]


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def test_leaf_is_prefixed_id_and_item_digest() -> None:
    digest = hashlib.sha256(b"payload").digest()
    assert leaf_hash("a/b", digest) == hashlib.sha256(b"\x00a/b" + digest).digest()


def test_empty_root_is_sha256_of_nothing() -> None:
    assert root_of_leaves([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert MerkleAccumulator().root() == EMPTY_ROOT


def test_odd_node_is_promoted_not_duplicated() -> None:
    a, b, c = _leaves(3)
    assert root_of_leaves([a, b, c]) == _node(_node(a, b), c)
    assert root_of_leaves([a, b, c]) != root_of_leaves([a, b, c, c])


def test_single_leaf_is_its_own_root() -> None:
    (a,) = _leaves(1)
    assert root_of_leaves([a]) == a


@settings(max_examples=40, deadline=None)
@given(count=st.integers(min_value=0, max_value=20000), split=st.integers(min_value=1, max_value=5000))
def test_streaming_root_equals_level_by_level_root(count: int, split: int) -> None:
    leaves = _leaves(count)
    merkle = MerkleAccumulator()
    for start in range(0, count, split):
        merkle.add_leaves(leaves[start : start + split])
    assert merkle.count == count
    assert merkle.root() == root_of_leaves(leaves)
