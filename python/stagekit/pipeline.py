"""``stagekit plan``: from rollouts you already have to stage sets, written to a run directory.

:func:`plan` computes the tables on an engine (this process by default; see :mod:`stagekit.engine`);
:func:`plan_files` is the command: it reads the input files, runs one declared step (``round-0/plan``) with
the step runner — so the directory is locked, every file written atomically and recorded with its rows and
sha256, and re-running with the same inputs and options finds the step done — and writes the manifest that
``stagekit report`` renders. The run directory's tables are what ``datasets.load_dataset("parquet", ...)``
reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from stagekit.engine import Engine, LocalEngine
from stagekit.io import InputError, read_table, sha256_path
from stagekit.report import histogram, write_report
from stagekit.rundir import Manifest, RunDir, package_versions, summarize_round
from stagekit.runner import Log, Runner, StepContext, config_json, step
from stagekit.stagesets import STAGE_TABLES, PlanConfig, gold_column, stage_sets

__all__ = ["PLAN_STEP", "STAGE_TABLES", "InputError", "PlanConfig", "RunDir", "histogram", "plan", "plan_files",
           "stage_sets"]


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
      takes=("rollouts", "problems"), writes=STAGE_TABLES)
def PLAN_STEP(ctx: StepContext) -> None:
    """``stagekit plan``'s one step: the stage tables of the given rollouts (and problems), on the engine."""
    assert ctx.engine is not None
    problems = ctx.value("problems") if ctx.has("problems") else None
    config: Any = ctx.cfg  # the PlanConfig, as this step may read it
    tables = ctx.engine.plan(ctx.value("rollouts"), config, problems)
    for name in STAGE_TABLES:
        ctx.write(name, tables[name])


def plan_files(
    rollouts_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: PlanConfig = PlanConfig(),
    problems_path: str | os.PathLike[str] | None = None,
    *,
    engine: Engine | None = None,
    log: Log | None = None,
    report: bool = True,
) -> Manifest:
    """``stagekit plan``: read rollouts (and optionally problems), plan on ``engine`` (default: this
    process), write the run directory ``out`` (refused when it is not empty and not a ``stagekit plan``
    directory), its manifest and (``report``) ``report.html``, all while holding the directory's lock;
    returns the manifest."""
    rp = Path(rollouts_path)
    rollouts = read_table(rp)
    if rollouts.num_rows == 0:
        raise InputError(f"{rp}: no rows (an empty rollouts file)")
    for col in (config.problem_id, config.completion, gold_column(rollouts.column_names, config)):
        if col not in rollouts.column_names and not (col != config.problem_id and "correct" in rollouts.column_names):
            raise InputError(f"{rp}: missing column {col!r} (columns: {', '.join(rollouts.column_names)})")
    problems = read_table(problems_path) if problems_path else None
    if engine is not None and not isinstance(engine, Engine):
        raise TypeError(f"plan_files: engine must be an engine object (stagekit.engine.get_engine(name)), "
                        f"not {engine!r}")
    eng = engine or LocalEngine()
    with Runner(out, command="plan", config=config, log=log, engine=eng, flag="-o") as rn:
        files = {str(rp): sha256_path(rp)}
        if problems_path:
            files[str(problems_path)] = sha256_path(problems_path)
        m = rn.manifest
        m.engine, m.config, m.versions, m.inputs = eng.name, config_json(config), package_versions(), files
        m.created = None  # a new plan: a new creation time
        rn.save()
        given = {"rollouts": rn.given("rollouts", files[str(rp)], rollouts),
                 "problems": None if problems is None else rn.given("problems", files[str(problems_path)], problems)}
        rn.run(PLAN_STEP, round=0, inputs=given)
        m.rounds = [summarize_round(rn.dir, 0, rn.current, with_steps=False)]
        rn.save()
        if report:
            write_report(out)
    return m
