"""From rollouts to stage sets, in this process: the computation ``stagekit plan`` and each round of
``stagekit run`` make, and the part of it that the Ray engine shares (:func:`stage_sets`, applied to the
per-problem stats that both engines compute). No I/O and no engine choice here: the engine object decides
where :func:`plan_tables` runs (:mod:`stagekit.engine`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from stagekit.io import InputError

__all__ = ["STAGE_TABLES", "PlanConfig", "gold_column", "plan_tables", "stage_sets"]

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
    stats, sets = stage_sets(stats, c, problems, rollouts=scored)
    return {"rollouts": scored, "stats": stats, **sets}


def gold_column(columns: Sequence[str], config: PlanConfig) -> str:
    """The rollouts' gold column: ``config.answer``, or at its default ``answer`` and absent, ``solution``
    (trl's spelling)."""
    from stagekit.transforms import GOLD_FALLBACK, resolve_column

    return resolve_column(columns, config.answer, PlanConfig.answer, GOLD_FALLBACK)


def stage_sets(stats: pa.Table, config: PlanConfig, problems: pa.Table | None = None, *,
               rollouts: pa.Table | None = None) -> tuple[pa.Table, dict[str, pa.Table]]:
    """From per-problem pass rates to the binned stats and the ``sft``, ``rl`` and ``drop`` sets, joined with
    the problem columns of ``problems`` when given. Every set carries the gold answer: the problems' gold
    column when they have one, else the rollouts' (its first value per problem), so the RL set feeds
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
        ptab = problems.select([c.problem_id, *keep])
        if ptab.schema.field(c.problem_id).type != stats.schema.field(c.problem_id).type:
            ptab = ptab.set_column(0, c.problem_id, ptab[c.problem_id].cast(stats.schema.field(c.problem_id).type))
        sets = {k: v.join(ptab, c.problem_id).sort_by(c.problem_id) for k, v in sets.items()}
    gold = gold_column(rollouts.column_names, c) if rollouts is not None else None
    if rollouts is not None and gold in rollouts.column_names and c.problem_id in rollouts.column_names:
        g = rollouts.select([c.problem_id, gold]).group_by(c.problem_id, use_threads=False).aggregate([(gold, "first")])
        g = g.rename_columns([c.problem_id, gold])
        sets = {k: v if gold in v.column_names else v.join(g, c.problem_id).sort_by(c.problem_id)
                for k, v in sets.items()}
    return stats, sets
