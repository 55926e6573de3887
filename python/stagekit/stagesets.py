"""From rollouts to stage sets, in this process: the computation ``stagekit plan`` and each round of
``stagekit run`` make, and the part of it that the Ray engine shares (:func:`stage_sets`, applied to the
per-problem stats that both engines compute). No I/O and no engine choice here: the engine object decides
where :func:`plan_tables` runs (:mod:`stagekit.engine`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.io import InputError

__all__ = ["STAGE_TABLES", "PlanConfig", "PlanCounts", "finish_plan", "gold_column", "plan_batches", "plan_tables",
           "problem_golds", "score_batch", "stage_sets"]

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


class PlanCounts:
    """Per-problem counts of scored rollouts, added batch by batch (``pass_counts`` of each) or as count
    tables made elsewhere (a Ray worker's), summed per problem as they pile up: memory holds about two rows
    per problem, never the rollouts. The counts carry each problem's first gold answer as a column
    (:func:`problem_golds`) when the rollouts have one, for the stage sets."""

    def __init__(self, config: PlanConfig):
        self.config = config
        self.by = [config.problem_id]
        self.parts: list[pa.Table] = []
        self.pending = 0
        self.summed = 0
        self.rows = 0

    def add(self, scored: pa.RecordBatch | pa.Table, where: str = "") -> None:
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

    def add_counts(self, counts: pa.Table, where: str = "") -> None:
        if self.parts and counts.schema != self.parts[0].schema:
            have, got = self.parts[0].schema.field(self.by[0]).type, counts.schema.field(self.by[0]).type
            if have != got:
                try:
                    counts = counts.set_column(0, self.by[0], counts[self.by[0]].cast(have))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    raise InputError(f"{where or 'the rollouts'}: column {self.by[0]!r} holds {got} values here but "
                                     f"{have} before; make them one type") from None
        self.parts.append(counts)
        self.pending += counts.num_rows
        if self.pending > max(1 << 20, 2 * self.summed):
            self._sum()

    def _sum(self) -> None:
        from stagekit.transforms import sum_counts

        if len(self.parts) > 1 or self.pending:
            parts = pa.concat_tables(self.parts, promote_options="permissive")
            summed = sum_counts(parts, self.by)
            golds = _gold_columns(parts, self.by[0])
            if golds:
                first = parts.group_by(self.by, use_threads=False).aggregate([(x, "first") for x in golds])
                first = pa.table({self.by[0]: first[self.by[0]], **{x: first[f"{x}_first"] for x in golds}})
                summed = _attach(summed, first, self.by[0], sort=False)
            self.parts = [summed]
        self.summed = self.parts[0].num_rows if self.parts else 0
        self.pending = 0

    def total(self) -> pa.Table:
        """One row per problem: the problem id, ``n``, ``n_correct`` and the gold (when there is one)."""
        if not self.parts:
            raise InputError("the rollouts are empty: no rows to plan from")
        self._sum()
        return self.parts[0]


def finish_plan(counts: pa.Table, config: PlanConfig, problems: pa.Table | None = None) -> dict[str, pa.Table]:
    """``stats`` and the ``sft``, ``rl`` and ``drop`` sets from per-problem counts (:class:`PlanCounts`): the
    tables :func:`plan_tables` makes besides the scored rollouts, with the same rows and values."""
    from stagekit.transforms import pass_rates_from_counts

    stats = pass_rates_from_counts(counts, by=config.problem_id, k=sorted({*config.k, 1}))
    golds = _gold_columns(counts, config.problem_id)
    stats, sets = stage_sets(stats, config, problems,
                             golds=counts.select([config.problem_id, golds[0]]) if golds else None)
    return {"stats": stats, **sets}


def plan_batches(batches: Iterable[pa.RecordBatch], config: PlanConfig = PlanConfig(), problems: pa.Table | None = None,
                 *, write: Callable[[pa.RecordBatch], object] | None = None,
                 where: Callable[[], str] | None = None) -> dict[str, pa.Table]:
    """:func:`plan_tables` over rollouts that come batch by batch (a :class:`stagekit.io.Source`): each
    batch is scored, counted and handed to ``write`` (the scored rollouts, in order); only per-problem counts
    are kept. Returns ``stats`` and the stage sets, equal to :func:`plan_tables`' for the concatenated
    batches."""
    acc = PlanCounts(config)
    for batch in batches:
        scored = score_batch(batch, config)
        acc.add(scored, where() if where else "")
        if write is not None:
            write(scored)
    return finish_plan(acc.total(), config, problems)
