"""From rollouts to stage sets, in this process: the computation ``stagekit plan`` and each round of
``stagekit run`` make, and the part of it that the Ray engine shares (:func:`stage_sets`, applied to the
per-problem stats that both engines compute). No I/O and no engine choice here: the engine object decides
where :func:`plan_tables` runs (:mod:`stagekit.engine`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.io import InputError

__all__ = ["FINISH_ROWS", "MERGE_ROWS", "STAGE_TABLES", "PlanConfig", "PlanCounts", "count_batches", "finish_plan",
           "finish_plan_chunks", "gold_column", "plan_batches", "plan_tables", "problem_golds", "score_batch",
           "stage_sets"]

#: The tables a plan makes, in this order.
STAGE_TABLES = ("rollouts", "stats", "sft", "rl", "drop")


@dataclass(frozen=True)
class PlanConfig:
    """Options of ``stagekit plan`` (and the data part of ``stagekit run``)."""

    completion: str = "completion"
    answer: str = "answer"
    problem_id: str = "problem_id"
    scheme: str = "zero_partial_full"
    keep_all_correct: bool = False
    k: tuple[int, ...] = (1, 4, 8)
    threads: int | None = None
    problem_columns: tuple[str, ...] = ("prompt", "solution")
    extra: dict[str, Any] = field(default_factory=dict)


#: PlanConfig fields that do not change what a plan computes (``threads``: verifier threads).
PLAN_NOT_AFFECTING = {"threads": "verifier threads: the verdicts are the same on any number"}
PlanConfig.NOT_AFFECTING = tuple(PLAN_NOT_AFFECTING)  # type: ignore[attr-defined]


def plan_tables(rollouts: pa.Table, config: PlanConfig = PlanConfig(), problems: pa.Table | None = None) -> dict[str, pa.Table]:
    """Score rollouts (unless a boolean ``correct`` column is given), compute pass rates, bin into stage
    sets, in this process. Returns ``rollouts`` (scored), ``stats`` (one row per problem, with stage columns)
    and the ``sft``, ``rl`` and ``drop`` sets, joined with the problem columns of ``problems`` when given."""
    from stagekit import transforms as T

    if rollouts.num_rows == 0:
        raise InputError("the rollouts are empty: no rows to plan from")
    c = config
    if "correct" in rollouts.column_names and pa.types.is_boolean(rollouts.schema.field("correct").type):
        scored = rollouts
    else:
        scored = T.score(rollouts, completion=c.completion, answer=c.answer, threads=c.threads)
    stats = T.pass_rates(scored, by=c.problem_id, k=sorted({*c.k, 1}))
    stats, sets = stage_sets(stats, c, problems, golds=problem_golds(scored, c))
    return {"rollouts": scored, "stats": stats, **sets}


def gold_column(columns: Sequence[str], config: PlanConfig) -> str:
    """The rollouts' gold column: ``config.answer``, or at its default ``answer`` and absent, ``solution``
    (trl's spelling)."""
    from stagekit.transforms import GOLD_FALLBACK, resolve_column

    return resolve_column(columns, config.answer, PlanConfig.answer, GOLD_FALLBACK)


def problem_golds(rollouts: pa.Table, config: PlanConfig) -> pa.Table | None:
    """The rollouts' gold per problem (its first non-null value; one row per problem, in the order problems
    first appear), or None when the rollouts have no gold column."""
    gold = gold_column(rollouts.column_names, config)
    if gold not in rollouts.column_names or config.problem_id not in rollouts.column_names:
        return None
    g = rollouts.select([config.problem_id, gold]).group_by(config.problem_id, use_threads=False)
    g = g.aggregate([(gold, "first")])
    return pa.table({config.problem_id: g[config.problem_id], gold: g[f"{gold}_first"]})


def stage_sets(stats: pa.Table, config: PlanConfig, problems: pa.Table | None = None, *,
               golds: pa.Table | None = None) -> tuple[pa.Table, dict[str, pa.Table]]:
    """From per-problem pass rates to the binned stats and the ``sft``, ``rl`` and ``drop`` sets, joined with
    the problem columns of ``problems`` when given. Every set carries the gold answer: the problems' gold
    column when they have one, else the rollouts' (``golds``: :func:`problem_golds`), so the RL set feeds
    ``sk.trl.accuracy_reward`` as it is. Shared by the local and the Ray plan (the stats table is one row
    per problem: it fits on the driver)."""
    from stagekit import transforms as T

    c = config
    # (pass_rates leaves out pass@k past every problem's n)
    stats = T.bin_difficulty(stats, scheme=c.scheme, keep_all_correct=c.keep_all_correct)
    sets = T.split_stages(stats)
    if problems is not None:
        if c.problem_id not in problems.column_names:
            raise InputError(
                f"the problems table has no {c.problem_id!r} column (columns: {', '.join(problems.column_names)})"
            )
        keep = [x for x in c.problem_columns if x in problems.column_names and x not in stats.column_names]
        if c.answer in problems.column_names and c.answer not in stats.column_names and c.answer not in keep:
            keep.append(c.answer)
        ptab = _key_type(problems.select([c.problem_id, *keep]), c.problem_id, stats.schema.field(c.problem_id).type)
        sets = {k: _attach(v, ptab, c.problem_id) for k, v in sets.items()}
    if golds is not None and golds.num_rows:
        gold = golds.column_names[1]
        g = _key_type(golds, c.problem_id, stats.schema.field(c.problem_id).type)
        sets = {k: v if gold in v.column_names else _attach(v, g, c.problem_id) for k, v in sets.items()}
    return stats, sets


def _key_type(table: pa.Table, key: str, type_: pa.DataType) -> pa.Table:
    """``table`` with its ``key`` column (the first) cast to ``type_``."""
    if table.schema.field(key).type == type_:
        return table
    return table.set_column(0, key, table[key].cast(type_))


def _attach(table: pa.Table, problems: pa.Table, key: str, *, sort: bool = True) -> pa.Table:
    """``table`` with the other columns of ``problems`` appended, looked up by ``key`` (a left join that keeps
    the order and carries any column type, lists included; null where a problem is missing), sorted by
    ``key`` unless ``sort=False``."""
    idx = pc.index_in(table[key], value_set=problems[key])
    rows = problems.drop_columns([key]).take(idx)
    for name in rows.column_names:
        table = table.append_column(name, rows[name])
    return table.sort_by(key) if sort else table


# ------------------------------------------------------------------------------------------------ in batches


def _has_correct(schema: pa.Schema) -> bool:
    return "correct" in schema.names and pa.types.is_boolean(schema.field("correct").type)


def score_batch(batch: pa.RecordBatch, config: PlanConfig, *, threads: int | None = None) -> pa.RecordBatch:
    """One batch of rollouts scored as :func:`plan_tables` scores the whole table (kept as it is when it has
    a boolean ``correct`` column)."""
    from stagekit.transforms import score_batches

    if _has_correct(batch.schema) or batch.num_rows == 0:
        return batch
    c = config
    out = list(score_batches([batch], completion=c.completion, answer=c.answer,
                             threads=c.threads if threads is None else threads))
    return out[0] if len(out) == 1 else pa.Table.from_batches(out).combine_chunks().to_batches()[0]


def _gold_columns(counts: pa.Table, key: str) -> list[str]:
    """The gold column a :class:`PlanCounts` table carries besides the key and the counts (none or one)."""
    return [x for x in counts.column_names if x not in (key, "n", "n_correct")]


#: New count rows :class:`PlanCounts` holds before it merges them into its sums (at least; a quarter of the
#: problems seen once there are more).
MERGE_ROWS = 1 << 18


class PlanCounts:
    """Per-problem counts of scored rollouts, added batch by batch (``pass_counts`` of each) or as count
    tables made elsewhere (a Ray worker's). The counts carry each problem's first gold answer as a column
    (:func:`problem_golds`) when the rollouts have one, for the stage sets.

    Memory holds one row per problem and the new rows not yet merged, never the rollouts: new rows are
    summed among themselves once they reach ``min_pending`` rows or a quarter of the problems seen, then
    merged into the running sums by a lookup of their (few) problems, so the whole table is never grouped
    again (grouping millions of problems at once costs several times the table)."""

    def __init__(self, config: PlanConfig, *, min_pending: int | None = None):
        self.config = config
        self.min_pending = MERGE_ROWS if min_pending is None else min_pending  # (tests merge early with 0)
        self.by = [config.problem_id]
        self.summed: pa.Table | None = None  # one row per problem
        self.parts: list[pa.Table] = []  # new count rows, not merged yet
        self.pending = 0
        self.rows = 0

    def add(self, scored: pa.RecordBatch | pa.Table, where: str | Callable[[], str] = "") -> None:
        """Count a batch of scored rollouts. ``where`` (text, or a function that makes it: a position in a
        large file may cost a read to name) names the batch in an error."""
        from stagekit.transforms import pass_counts

        table = scored if isinstance(scored, pa.Table) else pa.Table.from_batches([scored])
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        counts = pass_counts(table, by=self.by)
        golds = problem_golds(table, self.config)
        if golds is not None:
            counts = _attach(counts, golds, self.by[0], sort=False)
        self.add_counts(counts, where)

    def add_counts(self, counts: pa.Table, where: str | Callable[[], str] = "") -> None:
        """Add a count table made elsewhere (:func:`~stagekit.transforms.pass_counts` rows, a gold column
        optional); ``where`` as for :meth:`add`."""
        first = self.summed if self.summed is not None else self.parts[0] if self.parts else None
        if first is not None and counts.schema != first.schema:
            have, got = first.schema.field(self.by[0]).type, counts.schema.field(self.by[0]).type
            if have != got:
                try:
                    counts = counts.set_column(0, self.by[0], counts[self.by[0]].cast(have))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    place = where() if callable(where) else where
                    raise InputError(f"{place or 'the rollouts'}: column {self.by[0]!r} holds {got} values here but "
                                     f"{have} before; make them one type") from None
        self.parts.append(counts)
        self.pending += counts.num_rows
        if self.pending > max(self.min_pending, (0 if self.summed is None else self.summed.num_rows) // 4):
            self._merge()

    def _merge(self) -> None:
        if not self.parts:
            return
        key = self.by[0]
        new = _sum_counts(pa.concat_tables(self.parts, promote_options="permissive"), key)
        self.parts, self.pending = [], 0
        old = self.summed
        if old is None:
            self.summed = new
            return
        old, new = _one_schema(old, new)
        # each summed problem's row of ``new`` (null: not in it); the lookup hashes the new problems only
        at = pc.index_in(old[key], value_set=new[key])
        cols: dict[str, Any] = {key: old[key]}
        for c in ("n", "n_correct"):
            cols[c] = pc.add(old[c], pc.fill_null(pc.take(new[c], at), 0))
        for g in _gold_columns(old, key):  # the first gold: the earlier one unless it was missing
            cols[g] = pc.coalesce(old[g], pc.take(new[g], at))
        import numpy as np

        fresh = np.ones(new.num_rows, dtype=bool)  # the new problems: rows of ``new`` no summed row found
        fresh[at.drop_null().to_numpy()] = False
        self.summed = pa.concat_tables([pa.table(cols, schema=old.schema), new.filter(pa.array(fresh))])

    def total(self) -> pa.Table:
        """One row per problem (in no particular order): the problem id, ``n``, ``n_correct`` and the gold
        (when there is one: the problem's first non-null one)."""
        self._merge()
        if self.summed is None:
            raise InputError("the rollouts are empty: no rows to plan from")
        return self.summed


def _sum_counts(counts: pa.Table, key: str) -> pa.Table:
    """:func:`stagekit.transforms.sum_counts` that keeps each problem's first non-null gold, in one pass."""
    golds = _gold_columns(counts, key)
    known = [x for x in golds if not pa.types.is_null(counts.schema.field(x).type)]  # (no kernel takes nulls)
    g = counts.group_by([key], use_threads=False).aggregate(
        [("n", "sum"), ("n_correct", "sum"), *((x, "first") for x in known)])
    return pa.table({key: g[key], "n": g["n_sum"].cast(pa.int64()), "n_correct": g["n_correct_sum"].cast(pa.int64()),
                     **{x: g[f"{x}_first"] if x in known else pa.nulls(g.num_rows) for x in golds}})


def _one_schema(a: pa.Table, b: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Two count tables with one schema (a gold column that one lacks or holds only nulls in takes the other's
    type), as ``concat_tables`` promotes them."""
    if a.schema == b.schema:
        return a, b
    both = pa.concat_tables([a, b], promote_options="permissive")
    return both.slice(0, a.num_rows), both.slice(a.num_rows)


#: Problems per piece of :func:`finish_plan_chunks` (its tables are about 100 bytes per problem).
FINISH_ROWS = 1 << 18


def finish_plan_chunks(counts: pa.Table, config: PlanConfig, problems: pa.Table | None = None, *,
                       rows: int = FINISH_ROWS) -> Iterator[dict[str, pa.Table]]:
    """:func:`finish_plan` in pieces of ``rows`` problems, in problem order: each piece holds ``stats`` and
    the ``sft``, ``rl`` and ``drop`` sets of its problems, and the pieces put end to end are
    :func:`finish_plan`'s tables. What a writer of millions of problems uses, so that only the counts and
    one piece are in memory at a time. Always yields at least one piece (empty tables for no problems)."""
    from stagekit.transforms import pass_rates_from_counts

    if rows < 1:
        raise ValueError(f"finish_plan_chunks: rows must be at least 1, got {rows}")
    c = config
    key = c.problem_id
    ks = sorted({*c.k, 1})
    max_n = pc.max(counts["n"]).as_py() if counts.num_rows else None  # the pass@k columns are the whole table's
    golds = _gold_columns(counts, key)
    counts = counts.select([key, "n", "n_correct", *golds[:1]])
    index = ptab = None
    if problems is not None:
        if key not in problems.column_names:
            raise InputError(f"the problems table has no {key!r} column (columns: {', '.join(problems.column_names)})")
        wanted = [x for x in problems.column_names if x != key and (x in c.problem_columns or x == c.answer)]
        ptab = _key_type(problems.select([key, *wanted]), key, counts.schema.field(key).type)
        index = pc.index_in(counts[key], value_set=ptab[key])  # each problem's row of ``problems``, once
    order = pc.sort_indices(counts, [(key, "ascending")])
    for start in range(0, max(len(order), 1), rows):
        pick = order[start:start + rows]
        part = counts.take(pick)
        stats = pass_rates_from_counts(part, by=key, k=ks, max_n=max_n)
        # this piece's rows of ``problems`` under this piece's keys: stage_sets looks them up as it would
        # the whole table's, without hashing the whole table per piece
        mine = None
        if ptab is not None and index is not None:
            mine = ptab.take(index.take(pick)).set_column(0, key, part[key])
        stats, sets = stage_sets(stats, c, mine, golds=part.select([key, golds[0]]) if golds else None)
        yield {"stats": stats, **sets}


def finish_plan(counts: pa.Table, config: PlanConfig, problems: pa.Table | None = None) -> dict[str, pa.Table]:
    """``stats`` and the ``sft``, ``rl`` and ``drop`` sets from per-problem counts (:class:`PlanCounts`): the
    tables :func:`plan_tables` makes besides the scored rollouts, with the same rows and values."""
    pieces = list(finish_plan_chunks(counts, config, problems))
    return {name: pa.concat_tables([p[name] for p in pieces]) for name in STAGE_TABLES[1:]}


def count_batches(batches: Iterable[pa.RecordBatch], config: PlanConfig = PlanConfig(), *,
                  write: Callable[[pa.RecordBatch], object] | None = None,
                  where: Callable[[], str] | None = None) -> pa.Table:
    """The first half of :func:`plan_batches`: each batch of rollouts is scored, counted and handed to
    ``write`` (the scored rollouts, in order); returns the per-problem counts (:meth:`PlanCounts.total`),
    which :func:`finish_plan` or :func:`finish_plan_chunks` make the stats and sets of."""
    acc = PlanCounts(config)
    for batch in batches:
        scored = score_batch(batch, config)
        acc.add(scored, where or "")
        if write is not None:
            write(scored)
    return acc.total()


def plan_batches(batches: Iterable[pa.RecordBatch], config: PlanConfig = PlanConfig(), problems: pa.Table | None = None,
                 *, write: Callable[[pa.RecordBatch], object] | None = None,
                 where: Callable[[], str] | None = None) -> dict[str, pa.Table]:
    """:func:`plan_tables` over rollouts that come batch by batch (a :class:`stagekit.io.Source`): each
    batch is scored, counted and handed to ``write`` (the scored rollouts, in order); only per-problem counts
    are kept. Returns ``stats`` and the stage sets, equal to :func:`plan_tables`' for the concatenated
    batches."""
    return finish_plan(count_batches(batches, config, write=write, where=where), config, problems)
