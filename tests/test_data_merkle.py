from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_airecovery.data.merkle import (
    EMPTY_ROOT,
    EntryTree,
    MerkleAccumulator,
    header_bound_root,
    page_leaf,
    paged_root,
    root_of_leaves,
)


def _leaves(count: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + str(i).encode()).digest() for i in range(count)]


def _entries(count: int) -> tuple[list[str], list[bytes]]:
    ids = [f"id-{i}" for i in range(count)]
    return ids, [hashlib.sha256(i.encode()).digest() for i in ids]


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def test_header_binding_layout() -> None:
    entries_root = hashlib.sha256(b"entries").digest()
    assert (
        header_bound_root(b"{}", entries_root)
        == hashlib.sha256(b"\x02" + hashlib.sha256(b"{}").digest() + entries_root).digest()
    )
    assert header_bound_root(b"{ }", entries_root) != header_bound_root(b"{}", entries_root)


def test_page_leaf_layout() -> None:
    ids, digests = [b"a", b"bc"], [hashlib.sha256(b"1").digest(), hashlib.sha256(b"2").digest()]
    expected = hashlib.sha256(
        b"\x00" + struct.pack("<III", 2, 1, 2) + b"abc" + digests[0] + digests[1]
    ).digest()
    assert page_leaf(ids, digests) == expected


def test_page_leaf_does_not_confuse_id_boundaries() -> None:
    digests = [hashlib.sha256(b"x").digest()] * 2
    assert page_leaf([b"ab", b"c"], digests) != page_leaf([b"a", b"bc"], digests)
    with pytest.raises(ValueError):
        page_leaf([b"a"], digests)


def test_empty_root_is_sha256_of_nothing() -> None:
    assert root_of_leaves([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert MerkleAccumulator().root() == EMPTY_ROOT
    assert EntryTree().root() == EMPTY_ROOT


def test_odd_node_is_promoted_not_duplicated() -> None:
    a, b, c = _leaves(3)
    assert root_of_leaves([a, b, c]) == _node(_node(a, b), c)
    assert root_of_leaves([a, b, c]) != root_of_leaves([a, b, c, c])


def test_single_leaf_is_its_own_root() -> None:
    (a,) = _leaves(1)
    assert root_of_leaves([a]) == a


def test_paged_tree_of_three_pages() -> None:
    ids, digests = _entries(5)
    encoded = [i.encode() for i in ids]
    pages = [page_leaf(encoded[s : s + 2], digests[s : s + 2]) for s in (0, 2, 4)]
    assert paged_root(ids, digests, page_size=2) == _node(_node(pages[0], pages[1]), pages[2])


def test_paged_root_detects_reorder_duplicate_truncation_and_tampering() -> None:
    ids, digests = _entries(10)
    root = paged_root(ids, digests, 4)
    swapped = [1, 0, *range(2, 10)]
    assert paged_root([ids[i] for i in swapped], [digests[i] for i in swapped], 4) != root
    assert paged_root(ids + ids[-1:], digests + digests[-1:], 4) != root
    assert paged_root(ids[:-1], digests[:-1], 4) != root
    assert paged_root(ids, [*digests[:3], hashlib.sha256(b"x").digest(), *digests[4:]], 4) != root
    assert paged_root([*ids[:3], "other", *ids[4:]], digests, 4) != root
    assert paged_root(ids, digests, 5) != root  # the page size is part of the construction


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=20000), split=st.integers(min_value=1, max_value=5000)
)
def test_streaming_root_equals_level_by_level_root(count: int, split: int) -> None:
    leaves = _leaves(count)
    merkle = MerkleAccumulator()
    for start in range(0, count, split):
        merkle.add_leaves(leaves[start : start + split])
    assert merkle.count == count
    assert merkle.root() == root_of_leaves(leaves)


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=3000),
    split=st.integers(min_value=1, max_value=700),
    page=st.integers(min_value=1, max_value=300),
)
def test_streaming_paged_root_equals_reference(count: int, split: int, page: int) -> None:
    ids, digests = _entries(count)
    tree = EntryTree(page)
    for number, start in enumerate(range(0, count, split)):
        tree.add(ids[start : start + split], digests[start : start + split])
        if number < 3:  # root() mid-stream must not disturb the stream
            assert tree.root() == paged_root(ids[: start + split], digests[: start + split], page)
    assert tree.count == count
    assert tree.root() == paged_root(ids, digests, page)


def test_entry_tree_binds_its_header() -> None:
    ids, digests = _entries(7)
    tree = EntryTree(3, header=b'{"h":1}')
    tree.add(ids, digests)
    assert tree.root() == header_bound_root(b'{"h":1}', paged_root(ids, digests, 3))
    with pytest.raises(ValueError):
        EntryTree(0)
