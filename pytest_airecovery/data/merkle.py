"""The Merkle tree over manifest entries, bound to the manifest header.

Construction ``sha256-paged-v2`` (manifest format 4), documented in docs/data-remediation.md:

* entries are cut into pages of ``page_size`` consecutive entries (the last page may be shorter);
  the page size is recorded in the manifest header;
* page leaf = sha256(0x00 || u32le(k) || u32le(len(id_1)) .. u32le(len(id_k))
                        || id_1 .. id_k || digest_1 .. digest_k)
  with ids as UTF-8 (surrogateescape for undecodable file names) and digests the raw 32-byte
  sha256 of each item; k, the lengths and the fixed digest width make the split unambiguous;
* node  = sha256(0x01 || left || right)
* levels are built left to right; an unpaired last node is *promoted* unchanged to the next level
  (never duplicated, so two different entry lists can never share a root by repeating the tail);
* the root of an empty entry list is sha256(b"");
* the manifest root binds the header to the entries:
  root = sha256(0x02 || sha256(canonical header) || entries root),
  so a pinned root also pins how the items were read (kind, label and id fields, features key,
  excluded files, page size): editing any of them changes the root.

One leaf hash per page instead of one per entry, and internal nodes per page, make the tree cost a
few percent of the item hashing. The 0x00/0x01/0x02 prefixes separate leaves, nodes and the
header binding, so none can be passed off as another.
:class:`MerkleAccumulator` computes the root while holding O(log n) hashes and one page.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from collections.abc import Iterable, Sequence

TREE_VERSION = "sha256-paged-v2"
DEFAULT_PAGE_SIZE = 1024
MAX_PAGE_SIZE = 1 << 20
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HEADER_PREFIX = b"\x02"
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Leaves are reduced in aligned blocks of this many, so the Python loop runs once per block level
# rather than once per leaf. Must be a power of two for the stack to stay a binary decomposition.
_BLOCK = 4096


def _id_bytes(item_id: str) -> bytes:
    # surrogateescape: file names that are not valid UTF-8 keep their original bytes.
    return item_id.encode("utf-8", "surrogateescape")


def encode_ids(ids: Sequence[str]) -> list[bytes]:
    try:
        return [i.encode("utf-8") for i in ids]
    except UnicodeEncodeError:
        return [_id_bytes(i) for i in ids]


def _u32le(values: Iterable[int]) -> bytes:
    packed = array("I", values)
    if packed.itemsize != 4:  # pragma: no cover - no mainstream platform
        packed = array("L", packed)
    if sys.byteorder == "big":  # pragma: no cover
        packed.byteswap()
    return packed.tobytes()


def page_leaf(encoded_ids: Sequence[bytes], digests: Sequence[bytes]) -> bytes:
    """Leaf of one page: ids as UTF-8 bytes, digests as raw 32-byte sha256 values."""
    if len(encoded_ids) != len(digests):
        raise ValueError("a page needs as many ids as digests")
    return page_leaf_of_parts(
        len(digests), _u32le(map(len, encoded_ids)), b"".join(encoded_ids), b"".join(digests)
    )


def page_leaf_of_parts(count: int, lengths: bytes, ids: bytes, digests: bytes) -> bytes:
    """Leaf of one page from its parts already joined: the ids' lengths as u32le, the UTF-8
    ids one after another, the raw digests one after another."""
    return hashlib.sha256(b"".join((LEAF_PREFIX, _u32le((count,)), lengths, ids, digests))).digest()


def header_bound_root(header: bytes, entries_root: bytes) -> bytes:
    """The manifest root: the entries' root bound to the canonical encoding of the header."""
    return hashlib.sha256(HEADER_PREFIX + hashlib.sha256(header).digest() + entries_root).digest()


def _reduce_level(level: list[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    # Not strict: an odd level has one node more on the left; it is promoted below.
    paired = [
        sha(NODE_PREFIX + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)
    ]
    if len(level) % 2:
        paired.append(level[-1])  # promotion: the odd node moves up unchanged
    return paired


def root_of_leaves(leaves: Sequence[bytes]) -> bytes:
    """Reference construction: reduce level by level. Used for small inputs and in tests."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        level = _reduce_level(level)
    return level[0]


def paged_root(
    ids: Sequence[str], digests: Sequence[bytes], page_size: int = DEFAULT_PAGE_SIZE
) -> bytes:
    """Reference paged root of a whole entry list (tests, small inputs)."""
    encoded = encode_ids(ids)
    return root_of_leaves(
        [
            page_leaf(encoded[s : s + page_size], digests[s : s + page_size])
            for s in range(0, len(ids), page_size)
        ]
    )


class MerkleAccumulator:
    """Streaming root over leaves: feed them in order, read :meth:`root` at the end."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        # (height in leaves, hash) of full aligned subtrees, sizes strictly decreasing.
        self._stack: list[tuple[int, bytes]] = []
        self.count = 0

    def add_leaves(self, leaves: Iterable[bytes]) -> None:
        pending = self._pending
        before = len(pending)
        pending.extend(leaves)
        self.count += len(pending) - before
        if len(pending) < _BLOCK:
            return
        full = len(pending) - len(pending) % _BLOCK
        for start in range(0, full, _BLOCK):
            self._push(_BLOCK, root_of_leaves(pending[start : start + _BLOCK]))
        del pending[:full]

    def add_leaf(self, leaf: bytes) -> None:
        self.add_leaves((leaf,))

    def _push(self, size: int, digest: bytes) -> None:
        stack = self._stack
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            digest = hashlib.sha256(NODE_PREFIX + left + digest).digest()
            size += left_size
        stack.append((size, digest))

    def root(self) -> bytes:
        if self.count == 0:
            return EMPTY_ROOT
        # The remainder (< one block) is itself a promotion tree; fold subtrees right to left.
        parts = [digest for _, digest in self._stack]
        if self._pending:
            parts.append(root_of_leaves(self._pending))
        digest = parts[-1]
        for left in reversed(parts[:-1]):
            digest = hashlib.sha256(NODE_PREFIX + left + digest).digest()
        return digest


class EntryTree:
    """Streaming root over entries (id, digest), buffering at most one page of entries.

    With ``header`` (a manifest header's canonical encoding), :meth:`root` is the manifest root
    that binds it; without, the bare entries root.
    """

    def __init__(self, page_size: int = DEFAULT_PAGE_SIZE, header: bytes | None = None) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size {page_size} outside 1..{MAX_PAGE_SIZE}")
        self.page_size = page_size
        self.header = header
        self.count = 0
        self._leaves = MerkleAccumulator()
        self._ids: list[bytes] = []
        self._digests: list[bytes] = []

    def add(
        self, ids: Sequence[str], digests: Sequence[bytes], encoded: Sequence[bytes] | None = None
    ) -> None:
        """Add a batch; ``encoded`` may give the ids already as UTF-8 bytes."""
        self.count += len(digests)
        encoded = encode_ids(ids) if encoded is None else encoded
        page = self.page_size
        pend_ids, pend_digests = self._ids, self._digests
        start = 0
        if pend_ids:  # top up the page left over from the previous batch
            start = min(len(digests), page - len(pend_ids))
            pend_ids.extend(encoded[:start])
            pend_digests.extend(digests[:start])
            if len(pend_ids) < page:
                return
            self._leaves.add_leaf(page_leaf(pend_ids, pend_digests))
            pend_ids.clear()
            pend_digests.clear()
        full = start + (len(digests) - start) // page * page
        self._leaves.add_leaves(
            [
                page_leaf(encoded[s : s + page], digests[s : s + page])
                for s in range(start, full, page)
            ]
        )
        pend_ids.extend(encoded[full:])
        pend_digests.extend(digests[full:])

    def root(self) -> bytes:
        entries_root = self._entries_root()
        return entries_root if self.header is None else header_bound_root(self.header, entries_root)

    def _entries_root(self) -> bytes:
        if self._ids:
            leaves = MerkleAccumulator()
            leaves._stack = list(self._leaves._stack)
            leaves._pending = list(self._leaves._pending)
            leaves.count = self._leaves.count
            leaves.add_leaf(page_leaf(self._ids, self._digests))
            return leaves.root()
        return self._leaves.root()
