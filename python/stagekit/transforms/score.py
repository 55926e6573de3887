"""Scoring rollouts with the Rust verifier."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from stagekit import verifier as _verify
from stagekit.transforms._contract import GOLD_FALLBACK, Col, set_column, transform

__all__ = ["score", "score_batches"]


@transform(
    reads=[
        Col("completion", "string", nulls="a null completion has no answer (status no_answer)"),
        Col("answer", "text", nulls="a null gold answer cannot be checked (status unparseable)", fallback=GOLD_FALLBACK),
    ],
    writes=[
        ("correct", "bool: the final answer is equivalent to the gold"),
        ("status", "string: correct | incorrect | no_answer | unparseable"),
        ("predicted", "string: the extracted final answer (null where none)"),
    ],
)
def score(
    rollouts: pa.Table,
    *,
    completion: str = "completion",
    answer: str = "answer",
    threads: int | None = None,
    rel_tol: float = _verify.DEFAULT_REL_TOL,
    require_marker: bool = False,
) -> pa.Table:
    r"""Verify every rollout's final answer against its gold answer (or reference solution).

    The gold is read from ``answer`` (numbers are cast to strings), or, when the table has no ``answer``
    column and ``answer`` is left at its default, from ``solution`` (trl's spelling; a reference solution
    whose final answer is its gold). Adds (or replaces) the columns ``correct``, ``status`` and ``predicted``; every other column passes
    through untouched. The work runs in the Rust batch verifier on ``threads`` threads (default: all cores),
    reading the string columns in place. ``rel_tol`` and ``require_marker`` are the verifier's options
    (``sk.check``): with ``require_marker=True`` a completion without a marked answer has ``no_answer``.

    >>> import pyarrow as pa
    >>> t = pa.table({"problem_id": [1, 1], "completion": ["\\boxed{4}", "\\boxed{5}"], "answer": ["4", "4"]})
    >>> score(t).select(["correct", "status"]).to_pylist()
    [{'correct': True, 'status': 'correct'}, {'correct': False, 'status': 'incorrect'}]
    """
    verdicts = _verify._check_table(
        rollouts[completion], rollouts[answer], threads=threads, rel_tol=rel_tol, with_gold=False, require_marker=require_marker
    )
    out = set_column(rollouts, "correct", verdicts["correct"])
    out = set_column(out, "status", verdicts["status"].cast(pa.string()))
    return set_column(out, "predicted", verdicts["predicted"])


def score_batches(
    batches: Iterable[pa.RecordBatch | pa.Table] | Any,
    *,
    completion: str = "completion",
    answer: str = "answer",
    threads: int | None = None,
    rel_tol: float = _verify.DEFAULT_REL_TOL,
) -> Iterator[pa.RecordBatch]:
    r""":func:`score` one batch at a time: for rollouts that do not fit in memory. ``batches`` is an
    iterable of record batches or tables, a ``pyarrow.RecordBatchReader``, or anything with the Arrow
    PyCapsule stream interface (read batch by batch, never whole); each scored batch is yielded as soon as it
    is verified, with the same columns and values :func:`score` gives the whole table.

    >>> import pyarrow as pa
    >>> t = pa.table({"completion": ["\\boxed{4}", "\\boxed{5}", "I am not sure."], "answer": ["4", "4", "4"]})
    >>> [b["status"].to_pylist() for b in score_batches(t.to_batches(max_chunksize=2))]
    [['correct', 'incorrect'], ['no_answer']]
    """
    items: Iterable[pa.RecordBatch | pa.Table]
    if hasattr(batches, "__arrow_c_stream__") and not isinstance(batches, (pa.Table, pa.RecordBatchReader)):
        items = pa.RecordBatchReader.from_stream(batches)
    elif isinstance(batches, pa.Table):
        items = pa.Table.to_batches(batches)
    else:
        items = batches
    for item in items:
        table = item if isinstance(item, pa.Table) else pa.Table.from_batches([item])
        if table.num_rows == 0:
            continue
        out = score(table, completion=completion, answer=answer, threads=threads, rel_tol=rel_tol)
        yield from out.combine_chunks().to_batches()
