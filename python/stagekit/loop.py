r"""The stage loop behind ``stagekit run``: the rounds, each a sequence of declared steps
(:mod:`stagekit.steps`) run by the step runner (:mod:`stagekit.runner`).

Round ``r`` (outputs under ``round-<r>/``): ``measure`` (k completions per problem from the current student,
verified) -> ``plan`` (pass rates, difficulty bins, stage sets) -> ``evaluate`` (the held-out problems, when
``--eval`` names benchmarks) -> ``stages`` (the ``--recipe``'s SFT and RL sets) -> ``bridge`` -> ``sft_data``
-> ``sft`` -> ``rl`` -> ``cft``. After the last round the student is measured and evaluated once more
(``round-<R>/``: ``measure``, ``plan``, ``evaluate``); the manifest's ``heldout`` compares the held-out
evaluations (the headline) and its ``moved`` the training problems' pass rates with round 0's, each with
intervals and a paired test. With ``--no-train``: round 0's ``measure``, ``plan``, ``stages``, ``bridge`` and
``sft_data``, and no evaluation.

Resume: each step's key is derived by the runner from the step's declaration (the options it reads, the
keys of its inputs, its code version); a step whose key and outputs are in the manifest is skipped, so
re-running the same command continues where it stopped and a changed option recomputes exactly the steps
that read it and those downstream of them. Every file is written atomically and the manifest is updated
after a step's outputs are complete, so an interrupted run leaves no partial output.

Seams: :func:`run` takes the ``generator_factory`` (``factory(student, cfg) -> Generator``; default
:func:`stagekit.students.make_generator`), the ``trainer`` (default :class:`stagekit.training.TrlTrainer`)
and the ``engine`` (default: the one ``--engine`` names).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from stagekit.config import RunConfig
from stagekit.engine import Engine, get_engine
from stagekit.inputs import PROBLEMS, Inputs, load_problems
from stagekit.heldout import BENCHMARKS, heldout_summary
from stagekit.rundir import Manifest, package_versions, summarize_round
from stagekit.runner import Done, Log, Ref, Runner, Value, config_json, table_hash
from stagekit.steps import (
    BRIDGE, CFT_BUILTIN, CFT_CRITIC, EVALUATE, HELDOUT, MEASURE, MEASURE_GIVEN, PLAN, RL, SFT, SFT_DATA, STAGES,
)
from stagekit.students import STUDENT, Student, make_generator

__all__ = ["Log", "Student", "load_problems", "moved", "run"]


def _trained(rn: Runner, done: Done, output: str, before: Value) -> Value:
    """The student after a training step: the model it wrote (or wrote and later removed), else ``before``."""
    path = f"round-{done.round}/{output}"
    if not (done.wrote(output) or path in done.record.removed):
        return before
    full = str(rn.dir.path / path)
    student: Student = before.value
    return Value("student", done.key, Student("transformers" if student.kind == "openai" else student.kind, full,
                                              done.key, None, full))


def execute(rn: Runner, cfg: RunConfig) -> Manifest:
    """The rounds of one ``stagekit run`` in the runner's directory; returns the final manifest."""
    rn.log(f"stagekit run -> {rn.dir.path}")
    inputs = rn.source(PROBLEMS)
    data: Inputs = inputs.value
    student = rn.source(STUDENT)
    m = rn.manifest
    m.config, m.versions, m.inputs = config_json(cfg), package_versions(), data.files
    m.problems = {"rows": data.problems.num_rows, "key": table_hash(data.problems), "source": data.description}
    rn.save()  # the manifest first: a directory with one is a run directory, resumable
    rn.dir.write_table(None, "problems", data.problems)
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    rounds = cfg.rounds if cfg.train else 0
    heldout: Done | None = None
    if cfg.train and cfg.eval_names():  # held out: before training and after every round
        heldout = rn.run(HELDOUT, inputs={"benchmarks": rn.source(BENCHMARKS), "problems": inputs})
    cft: Done | None = None
    plan: Done | None = None
    stages: Done | None = None
    evaluated: list[int] = []
    for r in range(rounds + 1):
        if r == 0 and data.rollouts is not None:
            measure = rn.run(MEASURE_GIVEN, round=0, inputs={"problems": inputs})
        else:
            measure = rn.run(MEASURE, round=r, inputs={"problems": inputs, "student": student})
        plan = rn.run(PLAN, round=r, inputs={"measure": measure, "problems": inputs})
        if heldout is not None:
            rn.run(EVALUATE, round=r, inputs={"heldout": heldout, "student": student})
            evaluated.append(r)
        if r == rounds:
            break
        stages = rn.run(STAGES, round=r, inputs={"plan": plan, "problems": inputs})
        bridge = rn.run(BRIDGE, round=r, inputs={"stages": stages, "student": student})
        sft_data = rn.run(SFT_DATA, round=r, inputs={"stages": stages, "bridge": bridge, "cft": cft})
        sft_inputs: dict[str, Ref | None] = {"sft_data": sft_data, "student": student}
        sft = rn.run(SFT, round=r, inputs=sft_inputs)
        after_sft = _trained(rn, sft, "sft-model", student)

        def rebuild(r: int = r, sft_inputs: dict[str, Ref | None] = sft_inputs) -> None:
            rn.run(SFT, round=r, inputs=sft_inputs, force=True)

        rl = rn.run(RL, round=r, inputs={"stages": stages, "sft": sft, "student": after_sft}, args={"rebuild": rebuild})
        trained = _trained(rn, rl, "student", after_sft)
        if trained is not after_sft:
            rn.discard(sft, "sft-model")  # an intermediate: the RL step started from it
        student = trained
        if cfg.critic == "generator":
            cft = rn.run(CFT_CRITIC, round=r, inputs={"rl": rl, "problems": inputs, "student": student})
        else:
            cft = rn.run(CFT_BUILTIN, round=r, inputs={"rl": rl, "problems": inputs})
    assert plan is not None
    if not cfg.train:  # the data loop alone: the stage sets, Bridge and the SFT set of round 0
        stages = rn.run(STAGES, round=0, inputs={"plan": plan, "problems": inputs})
        bridge = rn.run(BRIDGE, round=0, inputs={"stages": stages, "student": student})
        rn.run(SFT_DATA, round=0, inputs={"stages": stages, "bridge": bridge, "cft": None})
    m.rounds = [summarize_round(rn.dir, r, rn.current) for r in range(rounds + 1)]
    first, last = rn.dir.read_table(0, "stats"), rn.dir.read_table(rounds, "stats")
    assert first is not None and last is not None
    m.moved = moved(first, last, data.problems)
    m.heldout = None
    if heldout is not None:
        m.heldout = heldout_summary(rn.dir, rn.current[heldout.name].notes["benchmarks"], evaluated, k=cfg.eval_k)
    m.recipe = cfg.recipe
    m.student = student.value.model
    rn.save()
    return m


def run(cfg: RunConfig, log: Log | None = None, *, generator_factory: Callable[[Student, Any], Any] | None = None,
        trainer: Any = None, engine: Engine | None = None,
        adopt: tuple[str | os.PathLike[str], Sequence[str]] | None = None) -> Manifest:
    """Run the stage loop (``stagekit run``) and return the manifest; the report is written beside it.

    ``generator_factory(student, cfg)`` builds the generator that samples a student (``cfg`` is the
    sampling step's view of the options: read what the generator depends on through it); ``trainer``
    trains (:class:`stagekit.training.Trainer`); ``engine`` plans and samples (default: ``--engine``).
    ``adopt=(other_run_dir, step_names)`` first takes those finished steps of another run directory
    (:meth:`stagekit.runner.Runner.adopt`: reused only where this run derives the same keys)."""
    from stagekit.report import write_report
    from stagekit.training import TrlTrainer

    eng = engine or get_engine(cfg.engine, address=cfg.address, actors=cfg.ray_actors, gpus=cfg.ray_gpus)
    with Runner(cfg.out, command="run", config=cfg, log=log or Log(cfg.progress), engine=eng,
                generator_factory=generator_factory or make_generator, trainer=trainer or TrlTrainer()) as rn:
        if adopt is not None:
            rn.adopt(*adopt)
        manifest = execute(rn, cfg)
        write_report(cfg.out)
    return manifest


def moved(before: pa.Table, after: pa.Table, problems: pa.Table, *, confidence: float = 0.95) -> dict[str, Any]:
    """What moved between two measurements of the same problems: mean pass rate with Wilson intervals over
    problems, the paired comparison (``change``: :func:`stagekit.evaluate.paired_change` on the problems' pass
    rates, i.e. their correct-sample counts: the exact sign test, a paired bootstrap interval of the change,
    and whether it is within the noise, in words), stage transitions (``sft->rl`` ...) and, where the
    problems have a ``level`` column, the pass rate per level."""
    from stagekit.evaluate.metrics import paired_change
    from stagekit.transforms.difficulty import wilson_interval

    b = {k: (p, s) for k, p, s in zip(before["problem_id"].to_pylist(), before["pass_rate"].to_pylist(),
                                       before["stages"].to_pylist(), strict=True)}
    a = {k: (p, s) for k, p, s in zip(after["problem_id"].to_pylist(), after["pass_rate"].to_pylist(),
                                      after["stages"].to_pylist(), strict=True)}
    common = sorted(set(a) & set(b))
    trans: dict[str, int] = {}
    up = down = 0
    for k in common:
        key = f"{_stage(b[k][1])}->{_stage(a[k][1])}"
        trans[key] = trans.get(key, 0) + 1
        up += a[k][0] > b[k][0]
        down += a[k][0] < b[k][0]
    out: dict[str, Any] = {
        "problems": len(common),
        "pass_rate_before": sum(b[k][0] for k in common) / max(len(common), 1),
        "pass_rate_after": sum(a[k][0] for k in common) / max(len(common), 1),
        "improved": up, "worsened": down, "transitions": dict(sorted(trans.items())),
    }
    if common:
        out["interval_before"] = list(wilson_interval(out["pass_rate_before"], len(common), confidence))
        out["interval_after"] = list(wilson_interval(out["pass_rate_after"], len(common), confidence))
        out["change"] = paired_change([b[k][0] for k in common], [a[k][0] for k in common], metric="pass rate",
                                      confidence=confidence).as_dict()
    if "level" in problems.column_names:
        level = dict(zip(problems["problem_id"].to_pylist(), problems["level"].to_pylist(), strict=True))
        per: dict[int, list[float]] = {}
        for k in common:
            per.setdefault(level[k], [0.0, 0.0, 0])
            per[level[k]][0] += b[k][0]
            per[level[k]][1] += a[k][0]
            per[level[k]][2] += 1
        out["by_level"] = {str(lv): {"before": v[0] / v[2], "after": v[1] / v[2], "problems": v[2]}
                           for lv, v in sorted(per.items())}
    return out


def _stage(stages: str | None) -> str:
    """A problem's stage label for transitions: ``bridge`` (SFT through the Bridge), ``sft``, ``rl``,
    ``sft+rl``, ``drop``."""
    return (stages or "drop").replace("sft_bridge", "bridge")
