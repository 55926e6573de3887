"""``stagekit plan``: from rollouts you already have to stage sets, written to a run directory.

:func:`plan` computes the tables on an engine (this process by default; see :mod:`stagekit.engine`);
:func:`plan_files` is the command: it reads the input files, runs one declared step (``round-0/plan``) with
the step runner — so the directory is locked, every file written atomically and recorded with its rows and
sha256, and re-running with the same inputs and options finds the step done — and writes the manifest that
``stagekit report`` renders. The run directory's tables are what ``datasets.load_dataset("parquet", ...)``
reads.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.engine import Engine, LocalEngine
from stagekit.io import InputError, sha256_path
from stagekit.report import histogram, write_report
from stagekit.rundir import Manifest, RunDir, package_versions, summarize_round
from stagekit.runner import Log, Runner, StepContext, config_json, step
from stagekit.stagesets import STAGE_TABLES, PlanConfig, finish_plan_chunks, gold_column, stage_sets
from stagekit.io import read_table

__all__ = ["PLAN_STEP", "STAGE_TABLES", "InputError", "PlanConfig", "RunDir", "histogram", "plan", "plan_files",
           "read_problems", "stage_sets", "write_stage_tables"]


def plan(rollouts: pa.Table, config: PlanConfig = PlanConfig(), problems: pa.Table | None = None, *,
         engine: Engine | None = None) -> dict[str, pa.Table]:
    """Score rollouts (unless a boolean ``correct`` column is given), compute pass rates, bin into stage
    sets. Returns ``rollouts`` (scored), ``stats`` (one row per problem, with stage columns) and the ``sft``,
    ``rl`` and ``drop`` sets, joined with the problem columns of ``problems`` when given.

    ``engine``: where it runs (default :class:`~stagekit.engine.LocalEngine`, this process;
    ``stagekit.engine.get_engine("ray", address=...)`` runs it on Ray Data with the same results)."""
    if engine is not None and not isinstance(engine, Engine):
        raise TypeError(f"plan: engine must be an engine object (stagekit.engine.get_engine(name)), not {engine!r}")
    return (engine or LocalEngine()).plan(rollouts, config, problems)


@step("plan", reads=("completion", "answer", "problem_id", "scheme", "keep_all_correct", "k", "problem_columns", "extra"),
      takes=("rollouts", "problems"), writes=STAGE_TABLES, version=2)
def PLAN_STEP(ctx: StepContext) -> None:
    """``stagekit plan``'s one step: the rollouts (a :class:`~stagekit.io.Source`) read in batches,
    scored and written in parts, and the stats and stage sets, on the engine."""
    assert ctx.engine is not None
    problems = ctx.value("problems") if ctx.has("problems") else None
    config: Any = ctx.cfg  # the PlanConfig, as this step may read it
    with ctx.parts("rollouts") as out:
        counts = ctx.engine.plan_source(ctx.value("rollouts"), config, out=out)
    write_stage_tables(ctx, counts, config, problems)


def write_stage_tables(ctx: StepContext, counts: pa.Table, config: PlanConfig, problems: pa.Table | None) -> None:
    """Write a plan step's ``stats``, ``sft``, ``rl`` and ``drop`` tables from the per-problem counts
    (:meth:`Engine.plan_source`), piece by piece (:func:`stagekit.stagesets.finish_plan_chunks`): memory holds
    the counts and one piece, not the tables. Used by ``stagekit plan`` and each round of ``stagekit run``."""
    with contextlib.ExitStack() as stack:
        out = {name: stack.enter_context(ctx.writer(name)) for name in STAGE_TABLES[1:]}
        for piece in finish_plan_chunks(counts, config, problems):
            for name, table in piece.items():
                out[name].write(table)


def _text_column(schema: pa.Schema, column: str, where: str) -> None:
    t = schema.field(column).type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t)):
        raise InputError(f"{where}: column {column!r} has type {t}; expected text")


def read_problems(path: str | os.PathLike[str], config: PlanConfig) -> pa.Table:
    """``--problems``: the table, with its problem id column present and unique (an :class:`InputError`
    naming the file otherwise)."""
    problems = read_table(path, text=(config.answer,))
    if problems.num_rows == 0:
        raise InputError(f"{path}: no rows (an empty problems file)")
    if config.problem_id not in problems.column_names:
        raise InputError(f"{path}: missing column {config.problem_id!r} (columns: {', '.join(problems.column_names)})")
    ids = problems[config.problem_id]
    if pc.count_distinct(ids, mode="all").as_py() != problems.num_rows:
        counts = problems.group_by(config.problem_id).aggregate([(config.problem_id, "count")])
        dup = counts.filter(pc.greater(counts[f"{config.problem_id}_count"], 1))[config.problem_id][0].as_py()
        raise InputError(f"{path}: problem ids repeat (e.g. {dup!r}); each problem needs a unique {config.problem_id!r}")
    return problems


def plan_files(
    rollouts_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: PlanConfig = PlanConfig(),
    problems_path: str | os.PathLike[str] | None = None,
    *,
    engine: Engine | None = None,
    log: Log | None = None,
    report: bool = True,
    batch_rows: int | None = None,
) -> Manifest:
    """``stagekit plan``: read rollouts (a file, or a directory or glob of parts) in batches of ``batch_rows``
    rows (default: about :data:`stagekit.io.BATCH_BYTES`) and optionally problems, plan on ``engine``
    (default: this process), write the run directory ``out`` (refused when it is not empty and not a
    ``stagekit plan`` directory), its manifest and (``report``) ``report.html``, all while holding the
    directory's lock; returns the manifest. Memory is bounded by the batch and the per-problem stats."""
    from stagekit.io import Source

    rp = Path(rollouts_path)
    src = Source(rp, text=(config.completion, config.answer), batch_rows=batch_rows)
    if src.is_empty():
        raise InputError(f"{rp}: no rows (an empty rollouts file)")
    cols = src.column_names
    gold = gold_column(cols, config)
    if gold != config.answer:  # trl's spelling of the gold: read it as text too
        src = Source(rp, text=(config.completion, gold), batch_rows=batch_rows)
    scored = "correct" in cols and pa.types.is_boolean(src.schema.field("correct").type)
    for col in (config.problem_id, config.completion, gold):
        if col not in cols and not (col != config.problem_id and scored):
            raise InputError(f"{rp}: missing column {col!r} (columns: {', '.join(cols)})")
        if col != config.problem_id and col in cols and not scored:
            _text_column(src.schema, col, str(rp))
    problems = read_problems(problems_path, config) if problems_path else None
    if engine is not None and not isinstance(engine, Engine):
        raise TypeError(f"plan_files: engine must be an engine object (stagekit.engine.get_engine(name)), "
                        f"not {engine!r}")
    eng = engine or LocalEngine()
    with Runner(out, command="plan", config=config, log=log, engine=eng, flag="-o") as rn:
        files = {str(rp): src.sha256()}
        if problems_path:
            files[str(problems_path)] = sha256_path(problems_path)
        m = rn.manifest
        m.engine, m.config, m.versions, m.inputs = eng.name, config_json(config), package_versions(), files
        m.created = None  # a new plan: a new creation time
        m.rounds = []  # until the plan is done: a report must not show an earlier plan's summary
        rn.save()
        given = {"rollouts": rn.given("rollouts", files[str(rp)], src),
                 "problems": None if problems is None else rn.given("problems", files[str(problems_path)], problems)}
        rn.run(PLAN_STEP, round=0, inputs=given)
        m.rounds = [summarize_round(rn.dir, 0, rn.current, with_steps=False)]
        rn.save()
        if report:
            write_report(out)
    return m
