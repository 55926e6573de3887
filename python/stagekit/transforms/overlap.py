"""Overlap between an evaluation set and a training pool: the same problem id, or the same problem text
once normalised (case, unicode forms, quotes, spacing, punctuation and thousands separators ignored)."""

from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.transforms._contract import Col, set_column, transform

__all__ = ["mark_overlap", "normalize_text"]

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"',
                         "\u2033": '"', "\u2013": "-", "\u2014": "-", "\u2212": "-"})
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+")


def normalize_text(text: str | None) -> str | None:
    """The text two copies of one problem share: NFKC, case-folded, thousands separators dropped, then
    only its words and numbers (a decimal point between digits is kept), one space apart.

    >>> normalize_text("Janet’s ducks lay 1,600 eggs  per day.\\nHow many?")
    'janet s ducks lay 1600 eggs per day how many'
    >>> normalize_text("It costs $1.50.") == normalize_text("it costs $1.50") != normalize_text("It costs $150.")
    True
    """
    if text is None:
        return None
    t = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return " ".join(_TOKEN.findall(_THOUSANDS.sub("", t)))


@transform(reads=[Col("pool_id", "any", required=False), Col("pool_text", "string", required=False)])
def _pool(pool: pa.Table, *, pool_id: str | None, pool_text: str | None) -> pa.Table:
    return pool


@transform(
    reads=[
        Col("id", "any", nulls="a null id matches nothing"),
        Col("text", "string", nulls="a null text matches nothing"),
    ],
    writes=[
        ("<input columns>", "passed through, in order"),
        ("overlap_id", "bool: the problem id is also a pool id (compared as text)"),
        ("overlap_text", "bool: the normalised problem text is also a normalised pool text"),
        ("overlap", "bool: either"),
    ],
)
def mark_overlap(
    table: pa.Table,
    pool: pa.Table,
    *,
    id: str | None = "problem_id",
    text: str | None = "question",
    pool_id: str | None = "problem_id",
    pool_text: str | None = "prompt",
) -> pa.Table:
    """Mark the rows of ``table`` (an evaluation set) that also occur in ``pool`` (a training pool): the same
    id (``id`` against ``pool_id``, as text), or the same text after :func:`normalize_text` (``text``
    against ``pool_text``). Pass ``id=None`` or ``text=None`` to skip that test; a pool column that is
    absent skips it too. Ids only say something when both tables share a namespace: stagekit's built-in
    benchmarks name theirs ``<benchmark>/<id>`` so that row numbers never collide.

    >>> import pyarrow as pa
    >>> bench = pa.table({"problem_id": ["a", "b", "c"], "question": ["What is 2+2?", "Add 3 and 4.", "Hi"]})
    >>> pool = pa.table({"problem_id": ["c"], "prompt": ["what is 2 + 2 ?"]})
    >>> mark_overlap(bench, pool).select(["overlap_id", "overlap_text", "overlap"]).to_pylist()[0]
    {'overlap_id': False, 'overlap_text': True, 'overlap': True}
    >>> mark_overlap(bench, pool)["overlap"].to_pylist()
    [True, False, True]
    """
    pool = _pool(pool, pool_id=pool_id, pool_text=pool_text)
    n = table.num_rows
    same_id = pa.chunked_array([pa.array([False] * n, pa.bool_())])
    same_text = same_id
    if id is not None and pool_id is not None and pool_id in pool.column_names:
        ids = pc.cast(table[id], pa.string())
        pool_ids = pc.drop_null(pc.cast(pool[pool_id], pa.string()))
        same_id = pc.fill_null(pc.is_in(ids, value_set=pc.unique(pool_ids)), False)
    if text is not None and pool_text is not None and pool_text in pool.column_names:
        keys = pa.array([normalize_text(x) for x in table[text].to_pylist()], pa.string())
        pool_keys = {k for k in (normalize_text(x) for x in pool[pool_text].to_pylist()) if k}
        same_text = pc.fill_null(pc.is_in(keys, value_set=pa.array(sorted(pool_keys), pa.string())), False)
    out = set_column(table, "overlap_id", same_id)
    out = set_column(out, "overlap_text", same_text)
    return set_column(out, "overlap", pc.or_(same_id, same_text))
