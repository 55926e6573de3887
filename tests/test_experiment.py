"""The experiment of issue 12, parts 2, 4 and 5, without a model (deterministic stand-ins for the student and
the trainers): the held-out evaluation in `stagekit run` (disjoint by text from the training pool, excluded
problems counted, the paired test and its words), the recipes' stage sets on real GSM8K rollouts, and
`stagekit compare` (the table, the best marked only outside the noise, compare --run sharing the base model's
steps, resume and bad input). The real model runs in tests/test_e2e_run.py (slow)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import random
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stagekit as sk
from stagekit import comparison, loop
from stagekit.cli import main
from stagekit.config import RECIPES, RunConfig
from stagekit.engine import LocalEngine
from stagekit.evaluate import paired_change, sign_test
from stagekit.heldout import HELDOUT_SEED_OFFSET, ladder_draw, select_heldout
from stagekit.io import InputError
from stagekit.ladder import make_ladder
from stagekit.transforms import normalize_text

from e2e_helpers import SHARED
from proptest import fixed
from stand_in import StandInFactory, StandInTrainer, heldout_of

BENCH = SHARED / "benchmarks"
SMALL = {"ladder_problems": 6, "ladder_levels": "1,2,3,4", "k": 4, "model": "stand-in", "progress": False,
         "sft_steps": 2, "grpo_steps": 2, "eval_problems": 8}


def _cfg(out: Path, **kw) -> RunConfig:
    return RunConfig(**{"out": str(out), **SMALL, **kw})


def _factory(cfg: RunConfig) -> StandInFactory:
    return StandInFactory(make_ladder(cfg.ladder_problems, seed=cfg.seed, levels=cfg.levels()), heldout_of(cfg))


def _run(cfg: RunConfig, factory: StandInFactory | None = None):
    f = factory or _factory(cfg)
    return loop.run(cfg, generator_factory=f, trainer=StandInTrainer(f), engine=LocalEngine())


def _cli(*argv: str, **kw) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv), **kw)
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------------------------- the paired test


def _brute_sign_test(up: int, down: int) -> float:
    """Every assignment of a direction to the m changed problems, equally likely: the share at least as
    uneven as the one observed (two-sided)."""
    m = up + down
    if m == 0:
        return 1.0
    obs = abs(up - down)
    hits = sum(abs(2 * sum(s) - m) >= obs for s in itertools.product((0, 1), repeat=m))
    return hits / 2**m


@given(st.integers(0, 9), st.integers(0, 9))
@fixed(100)
def test_sign_test_is_the_exact_two_sided_binomial(up, down):
    assert sign_test(up, down) == pytest.approx(_brute_sign_test(up, down), abs=1e-12)
    assert sign_test(up, down) == sign_test(down, up)


@given(st.lists(st.tuples(st.sampled_from([0, 0.25, 0.5, 0.75, 1.0]), st.sampled_from([0, 0.25, 0.5, 0.75, 1.0])),
                min_size=0, max_size=30))
@fixed(150)
def test_paired_change_counts_and_interval(pairs):
    before, after = [b for b, _ in pairs], [a for _, a in pairs]
    c = paired_change(before, after, resamples=300)
    assert c.improved == sum(a > b for b, a in pairs) and c.worsened == sum(a < b for b, a in pairs)
    assert c.improved + c.worsened + c.unchanged == len(pairs) == c.problems
    if pairs:
        assert c.delta == pytest.approx(sum(after) / len(pairs) - sum(before) / len(pairs))
        assert c.low <= c.delta <= c.high
    assert c.significant == (c.p_value < 0.05)
    assert c.verdict == ("within noise" if not c.significant else "improved" if c.improved > c.worsened else "worsened")
    assert c.words().startswith({"within noise": "within noise", "improved": "improved beyond the noise",
                                 "worsened": "worsened beyond the noise"}[c.verdict])
    assert paired_change(before, after, resamples=300) == c  # seeded: the same data give the same interval
    same = paired_change(before, before, resamples=100)
    assert (same.p_value, same.verdict, same.delta) == (1.0, "within noise", 0.0)


def test_paired_change_false_alarms_stay_under_the_level_and_real_changes_are_found():
    """Seeded simulation: 200 comparisons of two independent measurements of the same problems (k = 4
    samples, per-problem solve rates from 0 to 1) call a change in at most 5% (+ slack) of them; a real
    improvement of 0.3 on 40 problems is found in nearly all."""
    rng = random.Random(7)

    def measure(rates, k=4):
        return [sum(rng.random() < p for _ in range(k)) / k for p in rates]

    false = 0
    for _ in range(200):
        rates = [rng.choice([0.0, 0.1, 0.3, 0.5, 0.8, 1.0]) for _ in range(30)]
        false += paired_change(measure(rates), measure(rates), resamples=200).significant
    assert false / 200 <= 0.08
    found = 0
    for _ in range(50):
        rates = [rng.uniform(0, 0.6) for _ in range(40)]
        found += paired_change(measure(rates), measure([r + 0.3 for r in rates]), resamples=200).verdict == "improved"
    assert found >= 45


# ---------------------------------------------------------------------------------------------- held-out problems


@given(st.integers(0, 50), st.lists(st.sampled_from([1, 2, 3, 4, 5, 6, 7]), min_size=1, max_size=4, unique=True),
       st.integers(1, 24), st.integers(0, 40))
@fixed(40)
def test_heldout_ladder_is_disjoint_by_text_from_the_training_pool(seed, levels, n, pool_size):
    """Whatever the seeds, levels and sizes: no held-out problem's text is a training problem's or another
    held-out problem's, the levels come in a draw's mix, and every candidate left out is counted."""
    levels = sorted(levels)
    pool = make_ladder(pool_size, seed=seed, levels=levels)
    draw = ladder_draw(n, seed=seed + HELDOUT_SEED_OFFSET, levels=levels)
    # the training pool also holds copies of some held-out candidates, under other ids (the text decides)
    planted = draw.rows.slice(0, 3)
    pool = pa.concat_tables([pool.select(["problem_id", "prompt"]),
                             pa.table({"problem_id": [f"mine-{i}" for i in range(planted.num_rows)],
                                       "prompt": planted["prompt"]})])
    rows, notes = select_heldout([draw], pool, n)
    texts = [normalize_text(t) for t in rows["question"].to_pylist()]
    pool_texts = {normalize_text(t) for t in pool["prompt"].to_pylist()}
    assert not set(texts) & pool_texts and len(set(texts)) == len(texts) == rows.num_rows == n
    want = Counter(levels[i % len(levels)] for i in range(n))
    assert Counter(rows["level"].to_pylist()) == want
    note = notes["ladder"]
    cand = [normalize_text(t) for t in draw.rows["question"].to_pylist()]
    assert note["overlap_text"] == sum(t in pool_texts for t in cand) >= planted.num_rows
    assert note["overlap_id"] == 0  # held-out ids name their seed: never a training id
    assert note["repeats"] == sum(t in cand[:i] for i, t in enumerate(cand))
    assert note["evaluated"] == n and note["rows"] == draw.rows.num_rows


def test_benchmark_overlap_with_a_training_pool_of_gsm8k_is_excluded_and_counted():
    from stagekit import evaluate as ev

    path = BENCH / "gsm8k_test.openai.jsonl"
    if not path.is_file():
        pytest.skip(f"real data not found at {path}")
    bench = ev.load_benchmark("gsm8k", BENCH)
    # a training pool holding 30 GSM8K test questions (row-number ids, as `stagekit run --problems` gives them),
    # re-spaced and re-cased: the same problems by text
    pool = pa.table({"problem_id": [str(i) for i in range(30)],
                     "prompt": [q.upper().replace(" ", "  ") for q in bench.rows["question"].to_pylist()[5:35]]})
    rows, notes = select_heldout([bench], pool, 20)
    assert notes["gsm8k"]["overlap_text"] == 30 and notes["gsm8k"]["overlap_id"] == 0
    ids = rows["problem_id"].to_pylist()
    assert ids == [f"gsm8k/{i}" for i in [0, 1, 2, 3, 4, *range(35, 50)]]  # the first 20 not in the pool


# ---------------------------------------------------------------------------------------------- in stagekit run


@pytest.fixture(scope="module")
def staged_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("exp") / "run"
    code, out, err = _cli("run", "--out", str(d), *(f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()
                                                     if k not in ("progress", "model")), "--no-progress",
                          "--model", "stand-in", generator_factory=_factory(_cfg(d)),
                          trainer=StandInTrainer(_factory(_cfg(d))))
    assert code == 0, err
    return d, out


def test_run_evaluates_held_out_problems_before_and_after_training(staged_run):
    d, out = staged_run
    m = json.loads((d / "manifest.json").read_text())
    h = m["heldout"]
    assert h["evaluated_rounds"] == [0, 1] and h["k"] == 4
    train = {normalize_text(t) for t in pq.read_table(d / "problems.parquet")["prompt"].to_pylist()}
    held = pq.read_table(d / "heldout.parquet")
    assert held.num_rows == 8 and not {normalize_text(t) for t in held["question"].to_pylist()} & train
    for r in (0, 1):
        scores = pq.read_table(d / f"round-{r}" / "eval_scores.parquet")
        assert sorted(scores["problem_id"].to_pylist()) == sorted(held["problem_id"].to_pylist())
        assert scores["n"].to_pylist() == [4] * 8
        comp = pq.read_table(d / f"round-{r}" / "eval_completions.parquet")
        # pass@1 is the brute-force count of verified completions over all samples
        ok = sum(sk.verify(c, g) for c, g in zip(comp["completion"].to_pylist(), comp["gold"].to_pylist(), strict=True))
        assert h["rounds"][r]["benchmarks"]["ladder"]["metrics"]["pass@1"]["value"] == pytest.approx(ok / 32)
    ch = h["change"]["ladder"]
    a = pq.read_table(d / "round-0" / "eval_scores.parquet").to_pylist()
    z = {x["problem_id"]: x["n_correct"] for x in pq.read_table(d / "round-1" / "eval_scores.parquet").to_pylist()}
    assert ch["improved"] == sum(z[x["problem_id"]] > x["n_correct"] for x in a)
    assert ch["worsened"] == sum(z[x["problem_id"]] < x["n_correct"] for x in a)
    assert ch["p_value"] == pytest.approx(sign_test(ch["improved"], ch["worsened"]))
    # the headline of the summary is the held-out evaluation, with what was excluded and the words
    lines = out.splitlines()
    assert lines[1].startswith("  held out: ladder, 8 problems x k = 4 (") and "also in the training pool, excluded" in lines[1]
    assert ch["words"] in lines[2]
    assert "moved (the training problems, re-measured)" in out and m["moved"]["change"]["words"] in out
    assert m["moved"]["interval_before"][0] <= m["moved"]["pass_rate_before"] <= m["moved"]["interval_before"][1]
    html = (d / "report.html").read_text()
    assert html.index("Held-out evaluation") < html.index("The training problems, re-measured")
    assert "Held-out pass@1 per round" in html and ch["words"].split(":")[0] in html


def test_held_out_is_off_without_training_and_with_own_problems_unless_named(tmp_path):
    m = _run(_cfg(tmp_path / "a", train=False))
    assert m.heldout is None and not (tmp_path / "a" / "heldout.parquet").exists()
    p = tmp_path / "p.jsonl"
    with p.open("w") as f:
        for r in make_ladder(6, levels=[1, 2, 3, 4]).to_pylist():
            f.write(json.dumps(r) + "\n")
    m = _run(_cfg(tmp_path / "b", problems=str(p)), _factory(_cfg(tmp_path / "b")))
    assert m.heldout is None
    cfg = _cfg(tmp_path / "c", problems=str(p), eval="ladder")
    m = _run(cfg, _factory(cfg))
    assert m.heldout["benchmarks"]["ladder"]["evaluated"] == 8


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--eval", "gsm8kk"], "--eval: unknown benchmark 'gsm8kk' (did you mean gsm8k?)"),
        (["--eval", "ladder,none"], "--eval: unknown benchmark 'none'"),
        (["--eval", "mawps", "--eval-data", "{tmp}/nowhere"], "nowhere: no such file or directory"),
        (["--eval", "mawps", "--eval-data", "{tmp}"], "holds none of mawps_test.qwen25math.jsonl"),
        (["--eval", "mawps", "--eval-data", "{tmp}/other.jsonl"], "needs column 'input'"),
        (["--eval", "mawps,svamp", "--eval-data", "{tmp}/other.jsonl"], "is one file, but 2 benchmarks are named"),
        (["--eval-k", "0"], "eval-k must be >= 1"),
        (["--eval", "ladder", "--temperature", "0"], "--eval-k > 1 needs --temperature > 0"),
    ],
)
def test_bad_eval_input_exits_2_naming_it(tmp_path, argv, message):
    (tmp_path / "other.jsonl").write_text('{"question": "1+1?", "target": 2}\n')
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = _cli("run", "--out", str(tmp_path / "run"), *argv, "--no-progress", "--model", "stand-in",
                        "--ladder-problems", "2", generator_factory=_factory(_cfg(tmp_path / "run")))
    assert code == 2 and message in err, err
    assert not (tmp_path / "run" / "heldout.parquet").exists()


class _Interrupting:
    """A generator factory whose generator raises KeyboardInterrupt on the first held-out prompt."""

    def __init__(self, inner: StandInFactory, held: set[str]):
        self.inner, self.held = inner, held

    def __call__(self, student, cfg):
        gen = self.inner(student, cfg)
        real = gen.generate

        def generate(prompts, *, n, sampling):
            if any(p in self.held for p in prompts):
                raise KeyboardInterrupt
            return real(prompts, n=n, sampling=sampling)

        gen.generate = generate
        return gen


def test_ctrl_c_during_the_held_out_evaluation_resumes(tmp_path):
    cfg = _cfg(tmp_path / "run")
    f = _factory(cfg)
    held = set(pq.read_table(_probe_heldout(tmp_path, cfg))["prompt"].to_pylist())
    code, _, err = _cli("run", "--out", cfg.out, "--ladder-problems", "6", "--ladder-levels", "1,2,3,4", "--eval-problems",
                        "8", "--sft-steps", "2", "--grpo-steps", "2", "--no-progress", "--model", "stand-in",
                        generator_factory=_Interrupting(f, held), trainer=StandInTrainer(f))
    assert code == 130 and "re-run the same command to resume" in err
    steps = json.loads((tmp_path / "run" / "manifest.json").read_text())["steps"]
    assert {"heldout", "round-0/measure", "round-0/plan"} <= set(steps) and "round-0/evaluate" not in steps
    f2 = _factory(cfg)
    code, _, err = _cli("run", "--out", cfg.out, "--ladder-problems", "6", "--ladder-levels", "1,2,3,4", "--eval-problems",
                        "8", "--sft-steps", "2", "--grpo-steps", "2", "--model", "stand-in", generator_factory=f2,
                        trainer=StandInTrainer(f2))
    assert code == 0, err
    assert "round-0/measure: done earlier" in err and "heldout: done earlier" in err
    assert (tmp_path / "run" / "round-1" / "eval_scores.parquet").is_file()


def _probe_heldout(tmp_path: Path, cfg: RunConfig) -> Path:
    """The held-out table a run with ``cfg`` evaluates (from a throw-away data-only run of the same options)."""
    from stagekit.heldout import load_heldout

    rows, _ = select_heldout(load_heldout(cfg), make_ladder(cfg.ladder_problems, seed=cfg.seed, levels=cfg.levels()),
                             cfg.eval_problems)
    path = tmp_path / "heldout-probe.parquet"
    pq.write_table(rows, path)
    return path


# ---------------------------------------------------------------------------------------------- recipes on GSM8K


MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
N_GSM8K = 240


@pytest.fixture(scope="module")
def gsm8k_recipes(tmp_path_factory):
    """Every recipe for one round on real GSM8K rollouts (the first 240 test problems x 4 GPT-3 solutions, as
    in tests/test_plan.py; the problems' reference solutions are the teacher traces), the stand-in student
    and trainer; the runs made by `compare --run`'s runner (round 0 shared)."""
    gen = SHARED / "generations" / "gsm8k_gpt3_example_model_solutions.jsonl"
    test = SHARED / "benchmarks" / "gsm8k_test.openai.jsonl"
    if not gen.is_file() or not test.is_file():
        pytest.skip(f"real data not found under {SHARED}")
    with gen.open() as f:
        rows = [json.loads(next(f)) for _ in range(N_GSM8K)]
    with test.open() as f:
        tests = [json.loads(next(f)) for _ in range(N_GSM8K)]
    d = tmp_path_factory.mktemp("gsm8k")
    with (d / "rollouts.jsonl").open("w") as f:
        for i, r in enumerate(rows):
            for s, m in enumerate(MODELS):
                f.write(json.dumps({"problem_id": i, "sample": s, "completion": r[m]["solution"]}) + "\n")
    problems = pa.table({"problem_id": [str(i) for i in range(N_GSM8K)], "prompt": [t["question"] for t in tests],
                         "answer": [t["answer"] for t in tests], "solution": [t["answer"] for t in tests]})
    pq.write_table(problems, d / "problems.parquet")
    labels = {str(i): sum(r[m]["is_correct"] for m in MODELS) for i, r in enumerate(rows)}
    cfg = RunConfig(out=str(d / "runs"), rollouts=str(d / "rollouts.jsonl"), problems=str(d / "problems.parquet"),
                    scheme="paper", model="stand-in", progress=False, sft_steps=3, grpo_steps=2, grpo_prompts=2)
    f = StandInFactory(problems)
    dirs = comparison.run_recipes(cfg, RECIPES, d / "runs", generator_factory=f, trainer=StandInTrainer(f),
                                  engine=LocalEngine())
    return {p.name: p for p in dirs}, labels, problems, cfg


def _ids(path: Path) -> set[str]:
    return set(pq.read_table(path)["problem_id"].to_pylist())


def test_each_recipes_stage_sets_are_its_definition_on_real_gsm8k(gsm8k_recipes):
    dirs, labels, problems, cfg = gsm8k_recipes
    every = set(labels)
    fails = {p for p, c in labels.items() if c == 0}  # no GPT-3 solution correct
    medium = {p for p, c in labels.items() if c in (1, 2)}  # the paper's [0.25, 0.75) at k = 4
    some = {p for p, c in labels.items() if 0 < c < 4}
    assert fails and medium and some != every  # the real data exercise every bin
    want = {"staged": (fails | medium, some), "sft_only": (fails, set()), "distill": (every, set()),
            "rl_only": (set(), every), "sft_then_rl": (every, every)}
    solution = dict(zip(problems["problem_id"].to_pylist(), problems["solution"].to_pylist(), strict=True))
    for recipe, (sft, rl) in want.items():
        r0 = dirs[recipe] / "round-0"
        assert _ids(r0 / "sft_set.parquet") == sft, recipe
        assert _ids(r0 / "rl_set.parquet") == rl, recipe
        train = pq.read_table(r0 / "sft_train.parquet")
        bridge = pq.read_table(r0 / "bridge.parquet")
        if recipe == "staged":  # hard problems through the Bridge, medium ones on their plain trace
            assert set(bridge["problem_id"].to_pylist()) == fails
            plain = train.filter(pc.equal(train["source"], "teacher"))
            assert set(plain["problem_id"].to_pylist()) >= medium
        else:  # every SFT problem on its own teacher trace, no Bridge
            assert bridge.num_rows == 0 and set(train["source"].to_pylist()) <= {"teacher"}
            assert sorted(train["problem_id"].to_pylist()) == sorted(sft)
            assert all(c[0]["content"] == sk.normalize_target(solution[p])
                       for p, c in zip(train["problem_id"].to_pylist(), train["completion"].to_pylist(), strict=True))
        assert _ids(r0 / "rl_train.parquet") == rl
        cft = pq.read_table(r0 / "cft.parquet")
        if recipe != "staged":
            assert cft.num_rows == 0


def test_every_recipe_gets_the_same_budget_per_stage(gsm8k_recipes):
    dirs, _, _, cfg = gsm8k_recipes
    stages = {"staged": ("sft", "rl"), "sft_only": ("sft",), "distill": ("sft",), "rl_only": ("rl",),
              "sft_then_rl": ("sft", "rl")}
    reads = {}
    for recipe, d in dirs.items():
        m = json.loads((d / "manifest.json").read_text())
        sft, rl = m["steps"]["round-0/sft"], m["steps"]["round-0/rl"]
        if "sft" in stages[recipe]:
            assert len(sft["losses"]) == cfg.sft_steps, recipe  # one loss per optimizer step
            reads.setdefault("sft", []).append(sft["reads"])
        else:
            assert "skipped" in sft
        rollouts = pq.read_table(d / "round-0" / "rl_rollouts.parquet")
        if "rl" in stages[recipe]:
            assert len(rl["rewards"]) == cfg.grpo_steps
            assert rollouts.num_rows == cfg.grpo_steps * cfg.grpo_prompts * cfg.num_generations, recipe
            reads.setdefault("rl", []).append(rl["reads"])
        else:
            assert "skipped" in rl and rollouts.num_rows == 0
    assert all(r == reads["sft"][0] for r in reads["sft"]) and all(r == reads["rl"][0] for r in reads["rl"])


def test_recipes_share_round_0_and_it_is_not_recomputed(gsm8k_recipes):
    dirs, _, _, _ = gsm8k_recipes
    first = json.loads((dirs["staged"] / "manifest.json").read_text())["steps"]
    for recipe in RECIPES[1:]:
        steps = json.loads((dirs[recipe] / "manifest.json").read_text())["steps"]
        for name in ("round-0/measure", "round-0/plan"):
            assert steps[name]["key"] == first[name]["key"] and steps[name]["adopted_from"] == str(dirs["staged"])
        for t in ("rollouts", "stats.parquet"):  # the rollouts: a directory of Parquet parts
            a, b = dirs["staged"] / "round-0" / t, dirs[recipe] / "round-0" / t
            assert pq.read_table(a).equals(pq.read_table(b))


# ---------------------------------------------------------------------------------------------- compare


@pytest.fixture(scope="module")
def ladder_recipes(tmp_path_factory):
    """`stagekit compare --run` with the stand-ins: every recipe on a small ladder."""
    out = tmp_path_factory.mktemp("cmp") / "cmp"
    cfg = _cfg(out)
    f = _factory(cfg)
    argv = ["compare", "--run", "--out", str(out), "--ladder-problems", "6", "--ladder-levels", "1,2,3,4",
            "--eval-problems", "8", "--sft-steps", "2", "--grpo-steps", "2", "--model", "stand-in"]
    code, stdout, err = _cli(*argv, generator_factory=f, trainer=StandInTrainer(f))
    assert code == 0, err
    return out, argv, f, stdout, err


def test_compare_run_runs_every_recipe_and_shares_the_base_model(ladder_recipes):
    out, _, factory, stdout, err = ladder_recipes
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(RECIPES)
    base = [pq.read_table(out / r / "round-0" / "eval_scores.parquet") for r in RECIPES]
    assert all(b.equals(base[0]) for b in base)
    # the base model was sampled once (round 0 of the first recipe), not once per recipe
    assert err.count("round-0/evaluate ...") == 1 and err.count("round-0/measure ...") == 1
    assert err.count("round-0/evaluate: done earlier") == len(RECIPES) - 1
    for r in RECIPES:
        assert json.loads((out / r / "manifest.json").read_text())["config"]["scheme"] == "paper"
    for name in comparison.OUTPUTS:
        assert (out / name).is_file()
    assert "| base model |" in stdout and all(f"| {r} |" in stdout for r in RECIPES)


def test_compare_run_again_samples_nothing(ladder_recipes):
    out, argv, _, stdout, _ = ladder_recipes
    f = _factory(_cfg(out))
    code, again, err = _cli(*argv, generator_factory=f, trainer=StandInTrainer(f))
    assert code == 0 and f.calls == 0 and " ...\n" not in err.replace("compare --run", "")
    assert again.split("\nstagekit compare:")[0] == stdout.split("\nstagekit compare:")[0]


def test_compare_table_and_page(ladder_recipes, tmp_path):
    out, _, _, _, _ = ladder_recipes
    dirs = [out / r for r in RECIPES]
    code, stdout, err = _cli("compare", *map(str, dirs), "--out", str(tmp_path / "c"))
    assert code == 0, err
    comp = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert comp["shared_base"] and comp["benchmarks"] == ["ladder"]
    for r in RECIPES:  # the table's figures are the runs' own
        h = json.loads((out / r / "manifest.json").read_text())["heldout"]
        cell = comp["cells"][r]["ladder"]
        assert cell["value"] == pytest.approx(h["rounds"][-1]["benchmarks"]["ladder"]["metrics"]["pass@1"]["value"])
        assert cell["change"]["p_value"] == pytest.approx(h["change"]["ladder"]["p_value"])
    page = (tmp_path / "c" / "compare.html").read_text()
    assert "<svg" in page and "Held-out pass@1 by recipe" in page and "src=" not in page
    assert comp["words"]["ladder"] in stdout


def _run_eval(path: str, recipe: str, base: list[int], final: list[int], k: int = 4) -> comparison.RunEval:
    def table(counts):
        return pa.table({"benchmark": ["b"] * len(counts), "problem_id": [f"p{i}" for i in range(len(counts))],
                         "n": [k] * len(counts), "n_correct": counts, "pass@1": [c / k for c in counts]})

    return comparison.RunEval(Path(path), recipe, recipe, table(base), table(final), "base", 1, k, "s")


def test_the_best_recipe_is_marked_only_outside_the_noise():
    base = [0] * 30
    clear = comparison.compare_runs([_run_eval("a", "staged", base, [3] * 15 + [0] * 15),
                                     _run_eval("b", "rl_only", base, [0] * 30),
                                     _run_eval("c", "distill", base, [1] * 5 + [0] * 25)])
    assert clear.best == {"b": "staged"} and clear.leader == {"b": "staged"}
    assert "**37.5 [" in comparison.markdown(clear) and "staged is best" in clear.words("b")
    close = comparison.compare_runs([_run_eval("a", "staged", base, [2] * 6 + [0] * 24),
                                     _run_eval("b", "rl_only", base, [2] * 5 + [0] * 25)])
    assert close.best == {"b": None} and close.leader == {"b": "staged"}
    assert "**" not in comparison.markdown(close) and "no recipe is marked best" in close.words("b")
    assert close.cells["staged"]["b"].change.significant  # 6 of 30 up, none down: p = 0.031
    assert not comparison.compare_runs([_run_eval("a", "staged", base, [1] * 3 + [0] * 27)]).cells["staged"]["b"].change.significant


def test_compare_bad_input_exits_2_naming_it(ladder_recipes, tmp_path):
    out, _, _, _, _ = ladder_recipes
    staged = str(out / "staged")
    cases = [
        (["compare"], "give the run directories to compare"),
        (["compare", str(tmp_path / "nowhere")], "nowhere: no such directory"),
        (["compare", staged, "--k", "8"], "--k is an option of --run"),
        (["compare", "--run", staged], "not both"),
        (["compare", "--run", "--recipes", "staged,sft_onyl", "--out", str(tmp_path / "r")], "unknown recipe 'sft_onyl'"),
    ]
    notrain = tmp_path / "notrain"
    code, out, _ = _cli("run", "--out", str(notrain), "--no-train", "--ladder-problems", "4", "--ladder-levels", "1,2",
                        "--no-progress", "--model", "stand-in", generator_factory=_factory(_cfg(notrain)))
    # --no-train says what it made, not "0 round(s)", and nothing "moved" (nothing was trained)
    assert code == 0 and "--no-train: round 0's data" in out and "round(s)" not in out and "moved" not in out
    cases.append((["compare", staged, str(notrain)], f"{notrain}: has no held-out evaluation"))
    other = tmp_path / "seed1"
    cfg = _cfg(other, seed=1)
    _run(cfg)
    cases.append((["compare", staged, str(other)], "evaluated different held-out problems on ladder"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    cases.append((["compare", staged, "--out", str(foreign)], "notes.txt, which a comparison did not write"))
    for argv, message in cases:
        code, _, err = _cli(*argv, "--no-progress") if "--run" not in argv else _cli(*argv)
        assert code == 2 and message in err, (argv, err)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_adopted_outputs_are_reused_only_with_the_same_key_and_never_changed_at_their_source(tmp_path):
    a = _cfg(tmp_path / "a")
    _run(a)
    src = tmp_path / "a" / "round-0" / "rollouts.parquet"
    before = src.read_bytes()
    b = _cfg(tmp_path / "b", k=3)  # another k: the measurement's key differs, so it is sampled again
    f = _factory(b)
    m = loop.run(b, generator_factory=f, trainer=StandInTrainer(f), engine=LocalEngine(),
                 adopt=(tmp_path / "a", comparison.SHARED_STEPS))
    assert "adopted_from" not in m.steps["round-0/measure"].notes
    assert "adopted_from" in m.steps["round-0/evaluate"].notes  # the held-out evaluation reads no k
    assert pq.read_table(tmp_path / "b" / "round-0" / "rollouts.parquet")["sample"].to_pylist().count(0) == 6
    assert src.read_bytes() == before and pq.read_table(src).num_rows == 6 * 4
    with pytest.raises(InputError, match="holds a `stagekit plan` output"):
        from stagekit.pipeline import PlanConfig, plan_files

        p = tmp_path / "plan"
        pq.write_table(pq.read_table(src), tmp_path / "r.parquet")
        plan_files(tmp_path / "r.parquet", p, PlanConfig())
        loop.run(_cfg(tmp_path / "c"), generator_factory=f, trainer=StandInTrainer(f), engine=LocalEngine(), adopt=(p, ["x"]))
