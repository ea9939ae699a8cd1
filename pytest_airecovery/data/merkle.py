"""The Merkle tree over manifest entries.

Construction (version ``sha256-promote-v1``), documented in docs/data-remediation.md:

* leaf  = sha256(0x00 || utf8(id) || item_digest)   (item_digest is the raw 32-byte sha256)
* node  = sha256(0x01 || left || right)
* levels are built left to right; an unpaired last node is *promoted* unchanged to the next level
  (never duplicated, so two different entry lists can never share a root by repeating the tail);
* the root of an empty manifest is sha256(b"").

The 0x00/0x01 prefixes separate leaves from nodes, so a node can never be passed off as a leaf.
The item digest has a fixed length at the end of the leaf input, so id and digest cannot be split
differently. :class:`MerkleAccumulator` computes the same root while holding O(log n) hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

TREE_VERSION = "sha256-promote-v1"
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Leaves are reduced in aligned blocks of this many, so the Python loop runs once per block level
# rather than once per leaf. Must be a power of two for the stack to stay a binary decomposition.
_BLOCK = 4096


def leaf_hash(item_id: str, item_digest: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + _id_bytes(item_id) + item_digest).digest()


def _id_bytes(item_id: str) -> bytes:
    # surrogateescape: file names that are not valid UTF-8 keep their original bytes.
    return item_id.encode("utf-8", "surrogateescape")


def leaf_hashes(ids: Sequence[str], digests: Sequence[bytes],
                encoded: Sequence[bytes] | None = None) -> list[bytes]:
    """Leaves of a batch; ``encoded`` may give the ids already as UTF-8 bytes."""
    sha = hashlib.sha256
    if encoded is None:
        try:
            encoded = [i.encode("utf-8") for i in ids]
        except UnicodeEncodeError:
            encoded = [_id_bytes(i) for i in ids]
    return [sha(LEAF_PREFIX + i + d).digest() for i, d in zip(encoded, digests)]


def _reduce_level(level: list[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    paired = [sha(NODE_PREFIX + a + b).digest() for a, b in zip(level[0::2], level[1::2])]
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


class MerkleAccumulator:
    """Streaming root: feed leaves in order, read :meth:`root` at the end."""

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
