r"""The stage loop behind ``stagekit run``: the rounds, each a sequence of declared steps
(:mod:`stagekit.steps`) run by the step runner (:mod:`stagekit.runner`).

Round ``r`` (outputs under ``round-<r>/``): ``measure`` (k completions per problem from the current student,
verified) -> ``plan`` (pass rates, difficulty bins, stage sets) -> ``bridge`` -> ``sft_data`` -> ``sft`` ->
``rl`` -> ``cft``. After the last round the student is measured once more (``round-<R>/``: ``measure`` and
``plan``) and the manifest's ``moved`` compares its pass rates with round 0's. With ``--no-train``: round 0's
``measure``, ``plan``, ``bridge`` and ``sft_data``.

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

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from stagekit.config import RunConfig
from stagekit.engine import Engine, get_engine
from stagekit.inputs import PROBLEMS, Inputs, load_problems
from stagekit.rundir import Manifest, package_versions, summarize_round
from stagekit.runner import Done, Log, Ref, Runner, Value, config_json, table_hash
from stagekit.steps import BRIDGE, CFT_BUILTIN, CFT_CRITIC, MEASURE, MEASURE_GIVEN, PLAN, RL, SFT, SFT_DATA
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
    cft: Done | None = None
    plan: Done | None = None
    for r in range(rounds + 1):
        if r == 0 and data.rollouts is not None:
            measure = rn.run(MEASURE_GIVEN, round=0, inputs={"problems": inputs})
        else:
            measure = rn.run(MEASURE, round=r, inputs={"problems": inputs, "student": student})
        plan = rn.run(PLAN, round=r, inputs={"measure": measure, "problems": inputs})
        if r == rounds:
            break
        bridge = rn.run(BRIDGE, round=r, inputs={"plan": plan, "student": student})
        sft_data = rn.run(SFT_DATA, round=r, inputs={"plan": plan, "bridge": bridge, "cft": cft})
        sft_inputs: dict[str, Ref | None] = {"sft_data": sft_data, "student": student}
        sft = rn.run(SFT, round=r, inputs=sft_inputs)
        after_sft = _trained(rn, sft, "sft-model", student)

        def rebuild(r: int = r, sft_inputs: dict[str, Ref | None] = sft_inputs) -> None:
            rn.run(SFT, round=r, inputs=sft_inputs, force=True)

        rl = rn.run(RL, round=r, inputs={"plan": plan, "sft": sft, "student": after_sft}, args={"rebuild": rebuild})
        trained = _trained(rn, rl, "student", after_sft)
        if trained is not after_sft:
            rn.discard(sft, "sft-model")  # an intermediate: the RL step started from it
        student = trained
        if cfg.critic == "generator":
            cft = rn.run(CFT_CRITIC, round=r, inputs={"rl": rl, "problems": inputs, "student": student})
        else:
            cft = rn.run(CFT_BUILTIN, round=r, inputs={"rl": rl, "problems": inputs})
    assert plan is not None
    if not cfg.train:  # the data loop alone: Bridge and the SFT set of round 0
        bridge = rn.run(BRIDGE, round=0, inputs={"plan": plan, "student": student})
        rn.run(SFT_DATA, round=0, inputs={"plan": plan, "bridge": bridge, "cft": None})
    m.rounds = [summarize_round(rn.dir, r, rn.current) for r in range(rounds + 1)]
    first, last = rn.dir.read_table(0, "stats"), rn.dir.read_table(rounds, "stats")
    assert first is not None and last is not None
    m.moved = moved(first, last, data.problems)
    m.student = student.value.model
    rn.save()
    return m


def run(cfg: RunConfig, log: Log | None = None, *, generator_factory: Callable[[Student, Any], Any] | None = None,
        trainer: Any = None, engine: Engine | None = None) -> Manifest:
    """Run the stage loop (``stagekit run``) and return the manifest; the report is written beside it.

    ``generator_factory(student, cfg)`` builds the generator that samples a student (``cfg`` is the
    sampling step's view of the options: read what the generator depends on through it); ``trainer``
    trains (:class:`stagekit.training.Trainer`); ``engine`` plans and samples (default: ``--engine``)."""
    from stagekit.report import write_report
    from stagekit.training import TrlTrainer

    eng = engine or get_engine(cfg.engine, address=cfg.address, actors=cfg.ray_actors, gpus=cfg.ray_gpus)
    with Runner(cfg.out, command="run", config=cfg, log=log or Log(cfg.progress), engine=eng,
                generator_factory=generator_factory or make_generator, trainer=trainer or TrlTrainer()) as rn:
        manifest = execute(rn, cfg)
        write_report(cfg.out)
    return manifest


def moved(before: pa.Table, after: pa.Table, problems: pa.Table) -> dict[str, Any]:
    """What moved between two measurements of the same problems: mean pass rate, stage transitions
    (``sft->rl`` ...) and, where the problems have a ``level`` column, the pass rate per level."""
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
