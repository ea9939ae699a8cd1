"""Verify a dataset against a manifest, and diff two manifests, item by item."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pytest_airecovery.data.manifest import Entry, Manifest, ProgressFn, read_manifest, stream_items


@dataclass
class ManifestDiff:
    """Differences from an ``old`` to a ``new`` state, each list sorted by id."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    relabelled: list[tuple[str, Any, Any]] = field(default_factory=list)  # (id, old, new)
    old_root: str = ""
    new_root: str = ""

    @property
    def reordered(self) -> bool:
        """Same items, different order: only the Merkle root tells."""
        return not self.has_item_changes and self.old_root != self.new_root

    @property
    def has_item_changes(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    @property
    def identical(self) -> bool:
        return not self.has_item_changes and self.old_root == self.new_root

    def to_dict(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "relabelled": [{"id": i, "old": o, "new": n} for i, o, n in self.relabelled],
            "reordered": self.reordered,
            "old_root": self.old_root,
            "new_root": self.new_root,
        }

    def summary(self, limit: int = 10) -> str:
        if self.identical:
            return f"identical (merkle root {self.new_root})"
        parts = []
        for name, ids in (
            ("added", self.added),
            ("removed", self.removed),
            ("changed", self.changed),
        ):
            if ids:
                shown = ", ".join(ids[:limit]) + (
                    f", ... ({len(ids)} in all)" if len(ids) > limit else ""
                )
                parts.append(f"{len(ids)} {name}: {shown}")
        if self.relabelled:
            parts.append(f"{len(self.relabelled)} relabelled")
        if self.reordered:
            parts.append("same items in a different order")
        return "; ".join(parts)


def _compare(
    old: dict[str, Entry], new: dict[str, Entry], old_root: str, new_root: str
) -> ManifestDiff:
    diff = ManifestDiff(old_root=old_root, new_root=new_root)
    diff.removed = sorted(set(old) - set(new))
    diff.added = sorted(set(new) - set(old))
    for item_id in sorted(set(old) & set(new)):
        before, after = old[item_id], new[item_id]
        if before.sha256 != after.sha256:
            diff.changed.append(item_id)
        if before.label != after.label:
            diff.relabelled.append((item_id, before.label, after.label))
    return diff


def diff_manifests(old: str | Manifest, new: str | Manifest) -> ManifestDiff:
    old_m = read_manifest(old) if isinstance(old, str) else old
    new_m = read_manifest(new) if isinstance(new, str) else new
    return _compare(old_m.by_id(), new_m.by_id(), old_m.merkle_root, new_m.merkle_root)


def verify_dataset(
    dataset: str,
    manifest: str | Manifest,
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> ManifestDiff:
    """Re-hash ``dataset`` the way the manifest says it was read; old = manifest, new = data."""
    expected = read_manifest(manifest) if isinstance(manifest, str) else manifest
    actual: dict[str, Entry] = {}
    merkle = expected.entry_tree()
    decoded: dict[str, Any] = {}  # labels repeat: decode each distinct one once
    for batch in stream_items(dataset, expected.spec, workers, progress):
        for item_id, digest, label in zip(batch.ids, batch.digests, batch.labels, strict=True):
            if label is not None and label not in decoded:
                decoded[label] = json.loads(label)
            actual[item_id] = Entry(
                item_id, digest.hex(), decoded[label] if label is not None else None
            )
        merkle.add(batch.ids, batch.digests, batch.id_bytes)
    return _compare(expected.by_id(), actual, expected.merkle_root, merkle.root().hex())
