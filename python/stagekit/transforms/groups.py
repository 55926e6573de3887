"""Reward groups of RL rollouts: the all-zero groups that carry no learning signal, and problems that stay
unsolved visit after visit."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.transforms._contract import Col, SchemaError, columns_present, explode, transform

__all__ = ["persistent_failures", "zero_reward_groups"]


def _binary(table: pa.Table, reward: str, where: str) -> pa.ChunkedArray:
    """The correctness column as bool; a numeric column must hold only 0 and 1 (a shaped reward is refused)."""
    col = table[reward]
    if pa.types.is_boolean(col.type):
        return col
    if pa.types.is_null(col.type):
        return col.cast(pa.bool_())  # all null: every reward counts as zero
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        bad = pc.and_(pc.is_valid(col), pc.and_(pc.not_equal(col, 0), pc.not_equal(col, 1)))
        if pc.any(bad).as_py():
            example = col.filter(bad)[0].as_py()
            raise SchemaError(
                f"{where}: column {reward!r} holds {example!r}: groups are judged on the binary correctness "
                f"column (0/1 or bool), not on a shaped reward; pass reward='correct' (see sk.score); "
                f"columns present: {columns_present(table)}"
            )
        return pc.equal(col, 1)
    raise SchemaError(
        f"{where}: column {reward!r} has type {col.type}, expected bool (or 0/1 numbers); "
        f"columns present: {columns_present(table)}"
    )


def _keys(by: str | Iterable[str]) -> list[str]:
    keys = [by] if isinstance(by, str) else list(by)
    if not keys:
        raise ValueError("`by` names no column")
    return keys


@transform(
    reads=[
        Col("by", "any"),
        Col("reward", "any", nulls="a null reward counts as zero (not correct)"),
        Col("completion", "string"),
        Col("keep", "any", required=False),
    ],
    writes=[
        ("<by columns>", "the group keys, sorted"),
        ("n, n_correct", "int64: completions in the group, and correct ones"),
        ("kind", "string: all_zero (every completion scored zero) or all_correct (zero variance, all one)"),
        ("completions", "list<string>: the group's completions (for all_zero: the failed attempts); with "
                        "flat=True instead one row per completion, in the `completion` column"),
        ("<keep columns>", "the first value in the group of each `keep` column present"),
    ],
)
def zero_reward_groups(
    rollouts: pa.Table,
    *,
    by: str | Iterable[str] = ("problem_id", "step"),
    reward: str = "correct",
    completion: str = "completion",
    keep: Iterable[str] = ("prompt", "answer", "solution"),
    include_all_correct: bool = True,
    flat: bool = False,
) -> pa.Table:
    r"""The zero-variance reward groups of RL rollouts: groups whose binary correctness is zero for every
    completion (``kind = "all_zero"``, with their failed completions collected), and, reported separately
    under ``kind = "all_correct"``, groups where every completion is correct. Mixed groups are omitted.

    Groups are judged on the binary correctness column, never on a shaped reward (a format bonus makes a
    failed group look non-zero).

    ``flat=True`` gives one row per completion of those groups instead (the group's columns repeated, the
    completion in the ``completion`` column): no list column, so the result joins with other tables
    (pyarrow's join cannot carry a list column), e.g. with the problems' reference solutions before
    :func:`~stagekit.transforms.cft.cft_records`.

    >>> import pyarrow as pa
    >>> t = pa.table({"problem_id": [1, 1, 2, 2, 3, 3], "step": [0] * 6, "completion": list("abcdef"),
    ...               "correct": [False, False, True, False, True, True]})
    >>> zero_reward_groups(t).select(["problem_id", "kind", "completions"]).to_pylist()
    [{'problem_id': 1, 'kind': 'all_zero', 'completions': ['a', 'b']}, {'problem_id': 3, 'kind': 'all_correct', 'completions': ['e', 'f']}]
    >>> zero_reward_groups(t, flat=True, include_all_correct=False).select(["problem_id", "completion"]).to_pylist()
    [{'problem_id': 1, 'completion': 'a'}, {'problem_id': 1, 'completion': 'b'}]
    """
    keys = _keys(by)
    hit = pc.fill_null(_binary(rollouts, reward, "zero_reward_groups"), False).cast(pa.int64())
    kept = [c for c in keep if c in rollouts.column_names and c not in keys and c != completion]
    t = pa.table({**{k: rollouts[k] for k in keys}, "__hit": hit, "__c": rollouts[completion], **{c: rollouts[c] for c in kept}})
    # (an all-null column, as a JSON reader types it, has no "first" kernel and cannot be joined: it comes
    # out as a null string column)
    firsts = [c for c in kept if not pa.types.is_null(t.schema.field(c).type)]
    aggs = [("__hit", "count", pc.CountOptions("all")), ("__hit", "sum"), ("__c", "list")] + [(c, "first") for c in firsts]
    g = t.group_by(keys, use_threads=False).aggregate(aggs)
    n, c = g["__hit_count"], g["__hit_sum"]
    zero = pc.equal(c, 0)
    full = pc.equal(c, n)
    mask = pc.or_(zero, full) if include_all_correct else zero
    out = pa.table(
        {
            **{k: g[k] for k in keys},
            "n": n.cast(pa.int64()),
            "n_correct": c.cast(pa.int64()),
            "kind": pc.if_else(zero, "all_zero", "all_correct"),
            "completions": g["__c_list"],
            **{col: g[f"{col}_first"] if col in firsts else pa.nulls(g.num_rows, pa.string()) for col in kept},
        }
    ).filter(mask)
    out = out.sort_by([(k, "ascending") for k in keys])
    if flat:
        out = explode(out, "completions", into=completion)
        # the completion next to the group columns, as in the rollouts; `keep` columns last
        order = [*keys, "n", "n_correct", "kind", completion, *kept]
        out = out.select(order)
    return out


@transform(
    reads=[Col("by", "any"), Col("step", "any"), Col("reward", "any", nulls="a null reward counts as zero")],
    writes=[
        ("<by columns>", "the problem key"),
        ("visits", "int64: steps at which the problem was sampled"),
        ("zero_visits", "int64: visits whose group was all-zero"),
        ("longest_zero_run", "int64: most consecutive all-zero visits"),
        ("run_first_step, run_last_step", "the steps where that run starts and ends"),
    ],
)
def persistent_failures(
    rollouts: pa.Table,
    *,
    min_visits: int = 2,
    by: str | Iterable[str] = "problem_id",
    step: str = "step",
    reward: str = "correct",
) -> pa.Table:
    """Problems that stayed all-zero on at least ``min_visits`` visits in a row (a visit is a step at which
    the problem's group was sampled), in key order.

    >>> import pyarrow as pa
    >>> t = pa.table({"problem_id": [1, 1, 1, 2, 2], "step": [0, 1, 2, 0, 1],
    ...               "correct": [False, False, False, False, True]})
    >>> persistent_failures(t, min_visits=2).select(["problem_id", "longest_zero_run"]).to_pylist()
    [{'problem_id': 1, 'longest_zero_run': 3}]
    """
    if min_visits < 1:
        raise ValueError(f"persistent_failures: min_visits must be at least 1, got {min_visits}")
    keys = _keys(by)
    hit = pc.fill_null(_binary(rollouts, reward, "persistent_failures"), False).cast(pa.int64())
    t = pa.table({**{k: rollouts[k] for k in keys}, "__step": rollouts[step], "__hit": hit})
    visits = t.group_by([*keys, "__step"], use_threads=False).aggregate([("__hit", "sum")])
    visits = visits.sort_by([*((k, "ascending") for k in keys), ("__step", "ascending")])
    key_rows = list(zip(*(visits[k].to_pylist() for k in keys), strict=True))
    steps = visits["__step"].to_pylist()
    zeros = [s == 0 for s in visits["__hit_sum"].to_pylist()]
    rows: list[dict] = []
    i = 0
    while i < len(key_rows):
        j = i
        best = (0, None, None)
        run, run_start = 0, None
        nz = 0
        while j < len(key_rows) and key_rows[j] == key_rows[i]:
            if zeros[j]:
                nz += 1
                run_start = steps[j] if run == 0 else run_start
                run += 1
                if run > best[0]:
                    best = (run, run_start, steps[j])
            else:
                run = 0
            j += 1
        if best[0] >= min_visits:
            rows.append(
                {**dict(zip(keys, key_rows[i], strict=True)), "visits": j - i, "zero_visits": nz,
                 "longest_zero_run": best[0], "run_first_step": best[1], "run_last_step": best[2]}
            )
        i = j
    schema = pa.schema(
        [*(pa.field(k, t.schema.field(k).type) for k in keys), ("visits", pa.int64()), ("zero_visits", pa.int64()),
         ("longest_zero_run", pa.int64()), ("run_first_step", t.schema.field("__step").type),
         ("run_last_step", t.schema.field("__step").type)]
    )
    return pa.Table.from_pylist(rows, schema=schema)
