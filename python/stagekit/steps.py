r"""The steps of ``stagekit run``, declared for the runner (:mod:`stagekit.runner`).

Round ``r`` (outputs under ``round-<r>/``); ``reads`` are the options each step's results depend on (the
sampling steps also read :data:`~stagekit.students.SAMPLING_READS`: temperature, top_p, seed, batch_size,
ray_actors, ray_gpus); ``takes`` its inputs (``problems`` and ``student`` are values, the rest steps):

===============  ===================================================  ==========================  =============================
step             reads                                                takes                       writes
===============  ===================================================  ==========================  =============================
``heldout``      eval_problems                                        benchmarks, problems        heldout (no round)
``measure``      k, max_new_tokens, sampling                          problems, student           rollouts
``measure``      (``--rollouts`` in round 0: the given rollouts)      problems                    rollouts
``plan``         scheme, keep_all_correct, k, engine                  measure, problems           stats sft rl drop
``evaluate``     eval_k, eval_max_new_tokens, sampling                heldout, student            eval_completions eval_scores
``stages``       recipe                                               plan, problems              sft_set rl_set
``bridge``       bridge_cuts/samples/tau/max_new_tokens, sampling     stages, student             bridge_rollouts bridge
``sft_data``     --                                                   stages, bridge, cft (r-1)   sft_train
``sft``          sft_steps/batch_size/learning_rate/max_length, seed  sft_data, student           sft-model/
``rl``           grpo_*, num_generations, temperature, seed           stages, sft, student        rl_train rl_rollouts student/
``cft``          critic (builtin), recipe                             rl, problems                cft
``cft``          critic*, base_url, bridge_max_new_tokens, sampling,  rl, problems, student       cft
                 recipe
===============  ===================================================  ==========================  =============================

``benchmarks`` is a source (:data:`stagekit.heldout.BENCHMARKS`: the ``--eval`` benchmarks' rows); ``evaluate``
runs in every round (round ``r`` evaluates the student that round ``r`` measures, so round 0 is the student
before training and the last round the trained one) when ``--eval`` names benchmarks and the run trains.
``stages`` is where ``--recipe`` enters (:func:`stagekit.recipes.recipe_sets`); ``cft`` writes no records
for a recipe without CFT.
The ``student`` of ``rl`` is the SFT model when SFT trained one; the next round's student is the RL model.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.heldout import BENCHMARKS
from stagekit.inputs import PROBLEM_COLUMNS, PROBLEMS, Inputs
from stagekit.runner import StepContext, step
from stagekit.stagesets import PlanConfig
from stagekit.students import SAMPLING_READS, STUDENT, Student, critic_student, sample

__all__ = ["BRIDGE", "CFT_BUILTIN", "CFT_CRITIC", "CRITIC_PROMPT", "EVALUATE", "HELDOUT", "MEASURE", "MEASURE_GIVEN", "PLAN",
           "RL", "SFT", "SFT_DATA", "SOURCES", "STAGES", "STEPS"]

CRITIC_PROMPT = (
    "{problem}\n\nA student wrote this solution:\n\n{attempt}\n\nThe correct final answer is {answer}. "
    "Find the first step of the student's solution that is wrong and explain the mistake in one or two sentences."
)


def _problems(ctx: StepContext) -> pa.Table:
    inputs: Inputs = ctx.value("problems")
    return inputs.problems


def _student(ctx: StepContext) -> Student:
    return ctx.value("student")


# ------------------------------------------------------------------------------------------------ measure, plan


@step("measure", reads=("k", "max_new_tokens", *SAMPLING_READS), takes=("problems", "student"), writes=("rollouts",))
def MEASURE(ctx: StepContext) -> None:
    """k completions per problem from the student, verified."""
    from stagekit.transforms import score

    c = ctx.cfg
    rollouts = sample(ctx, _problems(ctx), _student(ctx), n=c.k, max_new_tokens=c.max_new_tokens,
                      seed=c.seed * 1000 + (ctx.round or 0), order=("problem_id", "sample"))
    ctx.write("rollouts", score(rollouts))


@step("measure", takes=("problems",), writes=("rollouts",), version=2)
def MEASURE_GIVEN(ctx: StepContext) -> None:
    """Round 0 with ``--rollouts``: the given rollouts, scored, read and written in batches (Parquet parts)."""
    from stagekit.stagesets import score_batch

    inputs: Inputs = ctx.value("problems")
    assert inputs.rollouts is not None
    with ctx.parts("rollouts") as out:
        for batch in inputs.rollouts.batches(inputs.problems):
            out.write(score_batch(batch, PlanConfig()))


@step("plan", reads=("scheme", "keep_all_correct", "k", "engine"), takes=("measure", "problems"),
      writes=("stats", "sft", "rl", "drop"), version=2)
def PLAN(ctx: StepContext) -> None:
    """Pass rates per problem, difficulty bins, stage sets (on the runner's engine; the rollouts read in
    batches, only per-problem counts kept)."""
    c = ctx.cfg
    problems = _problems(ctx)
    config = PlanConfig(scheme=c.scheme, keep_all_correct=c.keep_all_correct, k=tuple(sorted({1, c.k // 2 or 1, c.k})),
                        problem_columns=tuple(x for x in problems.column_names if x != "problem_id"))
    assert ctx.engine is not None
    from stagekit.pipeline import write_stage_tables

    write_stage_tables(ctx, ctx.engine.plan_source(ctx.source("rollouts"), config), config, problems)


# ------------------------------------------------------------------------------------------------ recipe


@step("stages", reads=("recipe",), takes=("plan", "problems"), writes=("sft_set", "rl_set"))
def STAGES(ctx: StepContext) -> None:
    """The round's SFT and RL sets under ``--recipe`` (:func:`stagekit.recipes.recipe_sets`)."""
    from stagekit.recipes import RECIPE_STAGES, recipe_sets

    recipe = ctx.cfg.recipe
    sets = recipe_sets(recipe, stats=ctx.read("stats"), sft=ctx.read("sft"), rl=ctx.read("rl"), problems=_problems(ctx))
    ctx.note(recipe=recipe, stages=list(RECIPE_STAGES[recipe]), sft_set=sets["sft_set"].num_rows,
             rl_set=sets["rl_set"].num_rows)
    for name in ("sft_set", "rl_set"):
        ctx.write(name, sets[name])


# ------------------------------------------------------------------------------------------------ held-out evaluation


@step("heldout", reads=("eval_problems",), takes=("benchmarks", "problems"), writes=("heldout",))
def HELDOUT(ctx: StepContext) -> None:
    """The held-out problems: each ``--eval`` benchmark's first ``--eval-problems`` rows that are not in the
    training pool (:func:`stagekit.heldout.select_heldout`), what was excluded counted in the notes."""
    from stagekit.heldout import select_heldout

    rows, notes = select_heldout(ctx.value("benchmarks"), _problems(ctx), ctx.cfg.eval_problems)
    ctx.note(benchmarks=notes)
    ctx.write("heldout", rows)


@step("evaluate", reads=("eval_k", "eval_max_new_tokens", *SAMPLING_READS), takes=("heldout", "student"),
      writes=("eval_completions", "eval_scores"))
def EVALUATE(ctx: StepContext) -> None:
    """The student on the held-out problems: ``--eval-k`` samples each (one chunk per benchmark, seeded as
    ``stagekit eval`` seeds it), verified and scored (pass@1, pass@k, maj@k per problem; metrics with
    intervals in the notes)."""
    from stagekit import evaluate as ev

    c = ctx.cfg
    c.ray_actors, c.ray_gpus  # noqa: B018  (where the samples are drawn is part of what they are)
    settings = ev.EvalSettings(k=c.eval_k, seed=c.seed, temperature=c.temperature, top_p=c.top_p,
                               max_new_tokens=c.eval_max_new_tokens, batch_size=c.batch_size, progress=c.progress)
    rows = ctx.read("heldout")
    gen = ctx.generator(_student(ctx))
    verdicts, scores, metrics = [], [], {}
    for name in dict.fromkeys(rows["benchmark"].to_pylist()):
        b = rows.filter(pc.equal(rows["benchmark"], name))
        got = ev.sample_chunk(b, gen, settings, ev.chunk_seed(c.seed, name, 0), engine=ctx.engine,
                              show_progress=c.progress)
        res = ev.result_from_completions(b, got, settings, name)
        level = dict(zip(b["problem_id"].to_pylist(), b["level"].to_pylist(), strict=True))
        verdicts.append(res.verdicts)
        scores.append(res.scores.append_column("level", pa.array([level[p] for p in res.scores["problem_id"].to_pylist()],
                                                                  pa.int32())))
        metrics[name] = {m: x.as_dict() for m, x in res.metrics.items()}
        ctx.log(f"{ctx.name}: {name}: " + ", ".join(f"{m} {100 * x.value:.1f}%" for m, x in res.metrics.items()))
    ctx.note(metrics=metrics, statuses=_count(pa.concat_tables(verdicts)["status"]))
    ctx.write("eval_completions", pa.concat_tables(verdicts))
    ctx.write("eval_scores", pa.concat_tables(scores))


# ------------------------------------------------------------------------------------------------ Bridge, SFT set


_EMPTY_CONTINUATIONS = pa.schema([("problem_id", pa.string()), ("cut", pa.int32()), ("bridge_prompt", pa.string()),
                                  ("completion", pa.string()), ("correct", pa.bool_())])
_EMPTY_BRIDGE = pa.schema([("problem_id", pa.string()), ("prompt", pa.string()), ("cut", pa.int32()),
                           ("cut_pass_rate", pa.float64()), ("target", pa.string()), ("fallback", pa.bool_()),
                           ("over_cap", pa.bool_())])


@step("bridge", reads=("bridge_cuts", "bridge_samples", "bridge_tau", "bridge_max_new_tokens", *SAMPLING_READS),
      takes=("stages", "student"), writes=("bridge_rollouts", "bridge"), version=2)
def BRIDGE(ctx: StepContext) -> None:
    """Teacher prefixes of the hard SFT problems, student continuations, the shortest learnable prefix."""
    from stagekit.transforms import bridge_prompts, score, segment_steps, select_bridge

    c = ctx.cfg
    sft = ctx.read("sft_set")
    hard = sft.filter(pc.fill_null(sft["bridge"], False)) if "bridge" in sft.column_names else sft.slice(0, 0)
    hard = hard.filter(pc.is_valid(hard["solution"])) if "solution" in hard.column_names else hard.slice(0, 0)
    prompts = bridge_prompts(segment_steps(hard, trace="solution"), cuts=c.cuts()) if hard.num_rows else None
    if prompts is None or prompts.num_rows == 0:
        ctx.note(skipped="no hard SFT problem with a teacher trace of two or more steps")
        cont, chosen = _EMPTY_CONTINUATIONS.empty_table(), _EMPTY_BRIDGE.empty_table()
    else:
        ctx.log(f"{ctx.name}: {prompts.num_rows} prefixes of {hard.num_rows} problems x {c.bridge_samples} continuations")
        cont = score(sample(ctx, prompts.drop_columns(["steps"]), _student(ctx), prompt="bridge_prompt",
                            n=c.bridge_samples, max_new_tokens=c.bridge_max_new_tokens,
                            seed=c.seed * 1000 + 500 + (ctx.round or 0), order=("problem_id", "cut", "sample")))
        chosen = select_bridge(cont, tau=c.bridge_tau, trace="solution")
        ctx.note(problems=hard.num_rows, prefixes=prompts.num_rows,
                 learnable=int(pc.sum(pc.invert(chosen["fallback"])).as_py() or 0))
    ctx.write("bridge_rollouts", cont)
    ctx.write("bridge", chosen)


_RECORDS = pa.schema([("problem_id", pa.string()), ("prompt", pa.string()), ("completion", pa.string()),
                      ("source", pa.string())])


def _records(table: pa.Table, completion: str, source: str | pa.Array | pa.ChunkedArray) -> pa.Table:
    """SFT examples (problem_id, prompt, completion, source) from a stage table."""
    src = source if isinstance(source, (pa.Array, pa.ChunkedArray)) else pa.array([source] * table.num_rows, pa.string())
    return pa.table({"problem_id": table["problem_id"], "prompt": table["prompt"], "completion": table[completion],
                     "source": src}).cast(_RECORDS)


def _count(col: pa.ChunkedArray) -> dict[str, int]:
    return {v["values"].as_py(): v["counts"].as_py() for v in pc.value_counts(col)}


@step("sft_data", takes=("stages", "bridge", "cft"), writes=("sft_train",), version=2)  # 2: to_sft's one target format
def SFT_DATA(ctx: StepContext) -> None:
    """The SFT set: plain teacher traces, Bridge targets, last round's CFT records (``cft`` may be None)."""
    from stagekit.transforms import to_sft

    parts = []
    sft = ctx.read("sft_set")
    if "solution" in sft.column_names:
        plain = sft.filter(pc.and_(pc.invert(pc.fill_null(sft["bridge"], False)), pc.is_valid(sft["solution"])))
        parts.append(_records(plain, "solution", "teacher"))
    bridge = ctx.read("bridge")
    parts.append(_records(bridge, "target", pc.if_else(bridge["fallback"], "teacher", "bridge")))
    if ctx.has("cft"):
        cft = ctx.read("cft")
        parts.append(_records(cft, "response", pc.binary_join_element_wise("cft_", cft["kind"], "")))
    table = pa.concat_tables(parts)
    ctx.note(rows=_count(table["source"]))
    ctx.write("sft_train", to_sft(table, format="prompt_completion", keep=["problem_id", "source"]))


# ------------------------------------------------------------------------------------------------ training


@step("sft", reads=("sft_steps", "sft_batch_size", "sft_learning_rate", "sft_max_length", "seed"),
      takes=("sft_data", "student"), writes=("sft-model/",))
def SFT(ctx: StepContext) -> None:
    """Supervised fine-tuning of the student on the SFT set (skipped, with the reason noted, when there is
    nothing to do)."""
    c = ctx.cfg
    student = _student(ctx)
    examples = ctx.read("sft_train")
    if c.sft_steps == 0 or examples.num_rows == 0 or student.local is None:
        ctx.note(skipped="--sft-steps 0" if c.sft_steps == 0 else "no SFT examples this round"
                 if examples.num_rows == 0 else "no local weights to train (--train-model)")
        return
    with ctx.scratch() as work:
        model = ctx.trainer.sft(ctx, model=student.local, examples=examples.drop_columns(["problem_id", "source"]),
                                work=work)
        ctx.install_dir("sft-model", model)


_EMPTY_RL_ROLLOUTS = pa.schema([("step", pa.int64()), ("problem_id", pa.string()), ("prompt", pa.string()),
                                ("completion", pa.string()), ("answer", pa.string()), ("correct", pa.bool_())])


@step("rl", reads=("grpo_steps", "grpo_prompts", "num_generations", "grpo_max_completion_length", "grpo_learning_rate",
                   "temperature", "seed"),
      takes=("stages", "sft", "student"), writes=("rl_train", "rl_rollouts", "student/"), version=2)
def RL(ctx: StepContext) -> None:
    """GRPO from the SFT model on the RL set, every completion recorded. ``ctx.args["rebuild"]`` retrains the
    SFT model when it was removed (after an earlier run of this round finished) and RL has to run again."""
    from pathlib import Path

    from stagekit.transforms import to_grpo

    c = ctx.cfg
    rl = ctx.read("rl_set")
    student = _student(ctx)
    train = to_grpo(rl)
    ctx.write("rl_train", train)
    if c.grpo_steps == 0 or rl.num_rows == 0 or student.local is None:
        ctx.note(skipped="--grpo-steps 0" if c.grpo_steps == 0 else "no RL problems this round (the RL set is empty)"
                 if rl.num_rows == 0 else "no local weights to train (--train-model)")
        ctx.write("rl_rollouts", _EMPTY_RL_ROLLOUTS.empty_table())
        return
    if not Path(student.local).exists() and "rebuild" in ctx.args:
        ctx.log(f"{ctx.name}: the SFT model was removed after an earlier run; training it again")
        ctx.args["rebuild"]()
    with ctx.scratch() as work:
        model, rollouts = ctx.trainer.grpo(ctx, model=student.local, problems=train, work=work)
        ctx.write("rl_rollouts", rollouts)
        ctx.install_dir("student", model)


# ------------------------------------------------------------------------------------------------ CFT


def _attach(table: pa.Table, problems: pa.Table) -> pa.Table:
    """``table`` with the columns of its problems appended (a lookup on ``problem_id``; Arrow's join cannot
    carry list columns such as ``completions``)."""
    idx = pc.index_in(table["problem_id"], value_set=problems["problem_id"])
    if idx.null_count:
        raise RuntimeError("rollouts name problem ids that are not among the run's problems")
    rows = problems.take(idx)
    for name in rows.column_names:
        if name != "problem_id":
            table = table.append_column(name, rows[name])
    return table


def _cft(ctx: StepContext, critic: Student | None) -> None:
    from stagekit.transforms import CFT_KINDS, cft_records, explode, zero_reward_groups

    from stagekit.recipes import CFT_RECIPES

    c = ctx.cfg
    rl = ctx.read("rl_rollouts")
    if c.recipe not in CFT_RECIPES:
        ctx.note(skipped=f"the recipe {c.recipe} uses no CFT records")
        rl = rl.slice(0, 0)
    # The recorder's prompt is the rendered conversation: the problem's own columns are attached below.
    zero = zero_reward_groups(rl, by=("problem_id", "step"), include_all_correct=False, keep=())
    ctx.note(groups=int(rl.group_by(["problem_id", "step"]).aggregate([]).num_rows) if rl.num_rows else 0,
             zero_groups=zero.num_rows)
    problems = _problems(ctx)
    ptab = problems.select([x for x in PROBLEM_COLUMNS if x in problems.column_names])
    failures = _attach(zero, ptab) if zero.num_rows else ptab.slice(0, 0).append_column(
        "completions", pa.array([], pa.list_(pa.string())))
    attempts = explode(failures, "completions", into="completion")
    critiques = None
    if critic is not None and attempts.num_rows:
        # problem_id = the attempt's row, so critiques come back in the attempts' order (also from Ray).
        asks = pa.table({"problem_id": pa.array(range(attempts.num_rows), pa.int64()), "prompt": [
            CRITIC_PROMPT.format(problem=p, attempt=a, answer=g) for p, a, g in zip(
                attempts["prompt"].to_pylist(), attempts["completion"].to_pylist(),
                attempts["answer"].to_pylist(), strict=True)]})
        out = sample(ctx, asks, critic, n=1, max_new_tokens=c.bridge_max_new_tokens,
                     seed=c.seed * 1000 + 700 + (ctx.round or 0), order=("problem_id", "sample"))
        attempts = attempts.append_column("critique", out["completion"])
        critiques = "critique"
    # Without a teacher trace (no `solution` column) there are diagnoses only: no repair or new trace.
    records = cft_records(attempts, critiques=critiques, reference="solution",
                          kinds=CFT_KINDS if "solution" in attempts.column_names else ("diagnosis",))
    ctx.note(records=_count(records["kind"]))
    ctx.write("cft", records)


@step("cft", reads=("critic", "recipe"), takes=("rl", "problems"), writes=("cft",), version=2)
def CFT_BUILTIN(ctx: StepContext) -> None:
    """The all-zero reward groups of the RL rollouts as CFT records; diagnoses by the built-in critic."""
    _cft(ctx, None)


@step("cft", reads=("critic", "critic_generator", "critic_model", "critic_base_url", "base_url",
                    "bridge_max_new_tokens", "recipe", *SAMPLING_READS),
      takes=("rl", "problems", "student"), writes=("cft",), version=2)
def CFT_CRITIC(ctx: StepContext) -> None:
    """The all-zero reward groups as CFT records, each diagnosis written by an LLM critic (``--critic generator``)."""
    _cft(ctx, critic_student(ctx.cfg, _student(ctx)))


#: Every step of ``stagekit run`` (a name may have several declarations; the loop picks one).
STEPS = (HELDOUT, MEASURE, MEASURE_GIVEN, PLAN, EVALUATE, STAGES, BRIDGE, SFT_DATA, SFT, RL, CFT_BUILTIN, CFT_CRITIC)
#: Every source of ``stagekit run`` (inputs that are not steps, made from options).
SOURCES = (PROBLEMS, STUDENT, BENCHMARKS)
