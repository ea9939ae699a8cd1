"""Manifest pages from entry columns: however the entries are cut into batches, the same lines."""

from __future__ import annotations

import hashlib
import io
import itertools
import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_airecovery.data.columns import EntryColumns
from pytest_airecovery.data.manifest import _PageWriter
from pytest_airecovery.data.merkle import paged_root

ids = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=6)
labels = st.one_of(st.none(), st.integers(-3, 3).map(str), st.just('"a\\nb"'))
entries = st.lists(
    st.tuples(ids, labels), min_size=1, max_size=40, unique_by=lambda entry: entry[0]
)


def write(batches: list[EntryColumns], page_size: int) -> tuple[bytes, bytes, int]:
    out = io.BytesIO()
    writer = _PageWriter(out, page_size)
    for batch in batches:
        writer.add(batch)
    root = writer.close()
    return out.getvalue(), root, writer.written


@settings(max_examples=200, deadline=None)
@given(
    rows=entries, page_size=st.integers(1, 7), cut_points=st.lists(st.integers(1, 39), max_size=5)
)
# The seed-dependent failure of issue 14: batches without labels, with labels, without again.
# Joining the first two lost which labels were absent, so the later all-absent page was
# written with "labels":[null,null,null] instead of leaving labels out.
@example(
    rows=[("a", None), ("b", "1"), ("c", None), ("d", None), ("e", None), ("f", None)],
    page_size=3,
    cut_points=[1, 2],
)
def test_any_cut_into_batches_gives_the_same_pages_and_root(
    rows: list[tuple[str, str | None]], page_size: int, cut_points: list[int]
) -> None:
    digests = [hashlib.sha256(i.encode("utf-8")).digest() for i, _ in rows]
    cuts = sorted({cut for cut in cut_points if cut < len(rows)})
    bounds = [0, *cuts, len(rows)]
    batches = [
        EntryColumns.from_ids(
            b"".join(digests[a:b]), [i for i, _ in rows[a:b]], [label for _, label in rows[a:b]]
        )
        for a, b in itertools.pairwise(bounds)
    ]
    whole = [
        EntryColumns.from_ids(b"".join(digests), [i for i, _ in rows], [label for _, label in rows])
    ]
    text, root, count = write(batches, page_size)
    assert (text, root, count) == write(whole, page_size)
    assert root == paged_root([i for i, _ in rows], digests, page_size)
    pages = [json.loads(line) for line in text.decode("utf-8").split("\n")[:-1]]
    assert [i for page in pages for i in page["ids"]] == [i for i, _ in rows]
    assert "".join(page["sha256"] for page in pages) == b"".join(digests).hex()
    for page in pages:  # labels only on pages where some entry has one
        start = page["n"]
        expected = [
            None if lab is None else json.loads(lab)
            for _, lab in rows[start : start + len(page["ids"])]
        ]
        assert page.get("labels", [None] * len(page["ids"])) == expected
