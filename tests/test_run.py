"""`stagekit run` without a model: the data loop (measure -> plan -> Bridge -> SFT set), resume, interruption,
config precedence and error messages, with a deterministic stand-in generator. The real model and trainers
run in tests/test_e2e_run.py (slow)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import stagekit as sk
from stagekit import loop, steps
from stagekit.cli import build_parser, main
from stagekit.config import QUICK, RunConfig, config_from_args
from stagekit.engine import LocalEngine
from stagekit.inputs import Inputs
from stagekit.io import InputError
from stagekit.rundir import RunDir
from stagekit.io import read_table
from stagekit.ladder import make_ladder
from stagekit.runner import Runner, step


class Scripted:
    """A generator that knows the gold answers: sample ``i`` of a prompt is correct when a hash of
    (prompt, i, seed) falls under the prompt's solve rate, which falls with the ladder level."""

    name = "scripted"

    def __init__(self, problems: pa.Table, *, interrupt_on: str | None = None):
        self.problems = problems.to_pylist()
        self.calls: list[int] = []
        self.interrupt_on = interrupt_on

    def _gold(self, prompt: str) -> tuple[str, int]:
        for p in self.problems:
            if p["prompt"] in prompt:
                return sk.extract_gold(p["answer"]), p.get("level", 3)
        raise AssertionError(f"unknown prompt {prompt[:60]!r}")

    def generate(self, prompts, *, n, sampling):
        if self.interrupt_on and any(self.interrupt_on in p for p in prompts):
            raise KeyboardInterrupt
        self.calls.append(len(prompts))
        out = []
        for p in prompts:
            gold, level = self._gold(p)
            rate = max(0.0, 1.0 - (level - 1) / 3)
            row = []
            for i in range(n):
                h = int(hashlib.sha256(f"{p}|{i}|{sampling.seed}".encode()).hexdigest(), 16) % 1000 / 1000
                row.append(f"Let me think.\nThe answer is \\boxed{{{gold}}}." if h < rate else "I think it is \\boxed{-1}.")
            out.append(row)
        return out


@pytest.fixture
def scripted():
    """``scripted(problems)`` makes the stand-in the runs use from then on (through the runner's generator
    factory, ``scripted.factory``)."""
    current: list[Scripted] = []

    def install(problems: pa.Table, **kw):
        gen = Scripted(problems, **kw)
        current[:] = [gen]
        return gen

    def factory(student, cfg):
        return current[0]

    install.factory = factory
    return install


def _cfg(out: Path, **kw) -> RunConfig:
    base = {"out": str(out), "ladder_problems": 12, "ladder_levels": "1,2,3,4", "k": 4, "train": False, "progress": False,
            "model": "scripted"}
    return RunConfig(**{**base, **kw})


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def test_data_loop_outputs_and_consistent_row_counts(tmp_path, scripted):
    cfg = _cfg(tmp_path / "run")
    scripted(make_ladder(12, seed=0, levels=[1, 2, 3, 4]))
    m = loop.run(cfg, generator_factory=scripted.factory)
    r0 = tmp_path / "run" / "round-0"
    for name in ("rollouts", "stats", "sft", "rl", "drop", "bridge_rollouts", "bridge", "sft_train"):
        assert (r0 / f"{name}.parquet").is_file(), name
    assert _rows(r0 / "rollouts.parquet") == 12 * 4
    stats = pq.read_table(r0 / "stats.parquet")
    assert stats.num_rows == 12 and stats["n"].to_pylist() == [4] * 12
    # zero_partial_full is a partition of the problems.
    sizes = {k: _rows(r0 / f"{k}.parquet") for k in ("sft", "rl", "drop")}
    assert sum(sizes.values()) == 12
    assert sizes["sft"] == pc.sum(pc.equal(stats["pass_rate"], 0.0)).as_py() > 0
    # Every Bridge problem is an SFT problem; the SFT set holds one example per Bridge record.
    bridge = pq.read_table(r0 / "bridge.parquet")
    assert set(bridge["problem_id"].to_pylist()) <= set(pq.read_table(r0 / "sft.parquet")["problem_id"].to_pylist())
    assert _rows(r0 / "sft_train.parquet") == bridge.num_rows
    cont = pq.read_table(r0 / "bridge_rollouts.parquet")
    assert cont.num_rows % 2 == 0 and set(cont["problem_id"].to_pylist()) == set(bridge["problem_id"].to_pylist())
    # The SFT set is trl's conversational prompt/completion format.
    sft_train = pq.read_table(r0 / "sft_train.parquet")
    first = sft_train.slice(0, 1).to_pylist()[0]
    assert first["prompt"][0]["role"] == "user" and first["completion"][0]["role"] == "assistant"
    assert m["rounds"][0]["rows"]["rollouts"] == 48
    assert m["moved"]["problems"] == 12
    assert (tmp_path / "run" / "report.html").is_file()
    assert not list((tmp_path / "run").rglob(".*tmp"))


def test_resume_skips_finished_steps_and_a_changed_option_recomputes_what_depends_on_it(tmp_path, scripted):
    gen = scripted(make_ladder(12, seed=0, levels=[1, 2, 3, 4]))
    loop.run(_cfg(tmp_path / "run"), generator_factory=scripted.factory)
    first = json.loads((tmp_path / "run" / "manifest.json").read_text())["steps"]
    calls = len(gen.calls)
    assert calls >= 2  # measure + Bridge

    loop.run(_cfg(tmp_path / "run"), generator_factory=scripted.factory)  # the same command: nothing is sampled again
    assert len(gen.calls) == calls
    again = json.loads((tmp_path / "run" / "manifest.json").read_text())["steps"]
    assert {k: v["key"] for k, v in again.items()} == {k: v["key"] for k, v in first.items()}

    # A binning change keeps the samples (measure skipped) but re-plans and re-bridges.
    loop.run(_cfg(tmp_path / "run", scheme="medium_sft"), generator_factory=scripted.factory)
    steps = json.loads((tmp_path / "run" / "manifest.json").read_text())["steps"]
    assert steps["round-0/measure"]["key"] == first["round-0/measure"]["key"]
    assert steps["round-0/plan"]["key"] != first["round-0/plan"]["key"]
    assert steps["round-0/bridge"]["key"] != first["round-0/bridge"]["key"]
    assert gen.calls[calls] != 12  # the next call was the Bridge, not a new measurement

    # More samples per problem: a new measurement.
    n = len(gen.calls)
    loop.run(_cfg(tmp_path / "run", k=6), generator_factory=scripted.factory)
    assert gen.calls[n] == 12
    assert _rows(tmp_path / "run" / "round-0" / "rollouts.parquet") == 72


def test_interrupted_run_leaves_no_partial_output_and_resumes(tmp_path, scripted):
    problems = make_ladder(12, seed=0, levels=[1, 2, 3, 4])
    scripted(problems, interrupt_on="Here is the beginning of a solution")
    with pytest.raises(KeyboardInterrupt):
        loop.run(_cfg(tmp_path / "run"), generator_factory=scripted.factory)
    run = tmp_path / "run"
    steps = json.loads((run / "manifest.json").read_text())["steps"]
    assert set(steps) == {"round-0/measure", "round-0/plan", "round-0/stages"}
    assert not list(run.rglob(".*tmp")) and not list(run.rglob(".scratch-*"))
    assert not (run / "round-0" / "bridge.parquet").exists()

    gen = scripted(problems)
    loop.run(_cfg(tmp_path / "run"), generator_factory=scripted.factory)
    assert gen.calls and gen.calls[0] != 12  # measure was not repeated: the first call is the Bridge
    assert (run / "round-0" / "bridge.parquet").is_file()


def test_cli_interrupt_exit_code(tmp_path, scripted, capsys):
    scripted(make_ladder(12, seed=0, levels=[1, 2, 3, 4]), interrupt_on="Here is the beginning")
    code = main(["run", "--out", str(tmp_path / "run"), "--ladder-problems", "12", "--ladder-levels", "1,2,3,4",
                 "--no-train", "--no-progress", "--model", "scripted"], generator_factory=scripted.factory)
    assert code == 130
    assert "re-run the same command to resume" in capsys.readouterr().err


def test_rollouts_given_skip_sampling_and_problems_are_derived(tmp_path, scripted):
    lad = make_ladder(8, seed=3, levels=[1, 4])
    gen = Scripted(lad)
    rollouts = sk.generate(lad, gen, n=3, show_progress=False).rename_columns(
        ["pid" if c == "problem_id" else "text" if c == "completion" else c for c in lad.column_names + ["sample", "completion"]])
    path = tmp_path / "rollouts.parquet"
    pq.write_table(rollouts, path)
    g = scripted(lad)
    m = loop.run(_cfg(tmp_path / "run", rollouts=str(path), id_column="pid", completion_column="text"),
                 generator_factory=scripted.factory)
    assert m["rounds"][0]["rows"]["rollouts"] == 24 and m["rounds"][0]["rows"]["stats"] == 8
    assert str(path) in m["inputs"]
    kept = RunDir(tmp_path / "run").read_table(0, "rollouts")  # written in parts, batch by batch
    assert kept["completion"].to_pylist() == rollouts["text"].to_pylist()  # the given rollouts, not new samples
    assert "correct" in kept.column_names
    problems = pq.read_table(tmp_path / "run" / "problems.parquet")
    assert sorted(problems["problem_id"].to_pylist()) == sorted(lad["problem_id"].to_pylist())


# ---------------------------------------------------------------------------------------------- config


def _args(*argv: str):
    return build_parser().parse_args(["run", *argv])


def test_config_precedence_defaults_quick_toml_flags(tmp_path):
    assert config_from_args(_args()) == RunConfig()
    quick = config_from_args(_args("--quick"))
    assert quick.ladder_problems == QUICK["ladder_problems"] and quick.k == RunConfig().k
    toml = tmp_path / "c.toml"
    toml.write_text('quick = true\nladder-problems = 5\nsft_learning_rate = 1\n')
    c = config_from_args(_args("--config", str(toml)))
    assert (c.ladder_problems, c.sft_steps, c.sft_learning_rate) == (5, QUICK["sft_steps"], 1.0)
    c = config_from_args(_args("--config", str(toml), "--ladder-problems", "9", "--no-train"))
    assert (c.ladder_problems, c.train) == (9, False)


@pytest.mark.parametrize(
    "text, message",
    [
        ("ladder_problem = 3", "unknown option 'ladder_problem'"),
        ("k = 'four'", "option 'k' must be int"),
        ("scheme = 'hard'", "option 'scheme' must be one of"),
        ("k = ", "invalid TOML"),
    ],
)
def test_bad_toml_names_the_problem(tmp_path, text, message):
    toml = tmp_path / "c.toml"
    toml.write_text(text + "\n")
    with pytest.raises(InputError, match=re.escape(message)):
        config_from_args(_args("--config", str(toml)))


def test_help_documents_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = capsys.readouterr().out
    for f in RunConfig.__dataclass_fields__:
        flag = "--" + f.replace("_", "-")
        assert flag in text, flag
    assert text.count("(default:") >= len(RunConfig.__dataclass_fields__)


@pytest.mark.parametrize(
    "kw, message",
    [({"k": 0}, "k must be >= 1"), ({"bridge_tau": 0}, "bridge-tau"), ({"generator": "openai"}, "--base-url"),
     ({"bridge_cuts": "0.5,2"}, "bridge-cuts"), ({"ladder_levels": "1,x"}, "ladder-levels"),
     ({"num_generations": 1}, "num-generations")],
)
def test_invalid_options(kw, message):
    with pytest.raises(InputError, match=re.escape(message)):
        RunConfig(**kw)


# ---------------------------------------------------------------------------------------------- bad input


def _run_cli(tmp_path, *argv: str) -> tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["run", "--out", str(tmp_path / "run"), "--no-progress", "--no-train", *argv])
    return code, err.getvalue()


def test_missing_column_names_the_column_and_the_file(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"question": "1+1?", "answer": "2"}\n')
    code, err = _run_cli(tmp_path, "--problems", str(p))
    assert code == 2 and "missing column 'prompt'" in err and str(p) in err and "--prompt-column" in err


def test_malformed_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"prompt": "1+1?", "answer": "2"}\n{"prompt": \n')
    code, err = _run_cli(tmp_path, "--problems", str(p))
    assert code == 2 and f"{p}:2: invalid JSON" in err


def test_empty_problem_set_says_so(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text("\n")
    code, err = _run_cli(tmp_path, "--problems", str(p))
    assert code == 2 and "no problems" in err


def test_repeated_ids_and_null_answers(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": 1, "prompt": "a", "answer": "2"}\n{"id": 1, "prompt": "b", "answer": "3"}\n')
    code, err = _run_cli(tmp_path, "--problems", str(p), "--id-column", "id")
    assert code == 2 and "problem ids repeat" in err
    p.write_text('{"prompt": "a", "answer": "2"}\n{"prompt": "b", "answer": null}\n')
    code, err = _run_cli(tmp_path, "--problems", str(p))
    assert code == 2 and "'answer' is null in 1 rows (first: row 1)" in err


def test_unreachable_server_names_the_url(tmp_path):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    code, err = _run_cli(tmp_path, "--generator", "openai", "--base-url", url, "--ladder-problems", "2")
    assert code == 3 and url in err


def test_out_dir_of_another_kind_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    code, err = _run_cli(tmp_path, "--ladder-problems", "2")
    assert code == 2 and "not a stagekit run directory" in err
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


def test_saved_datasets_directory_is_read(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"prompt": ["1+1?", "2+2?"], "answer": ["2", "4"]})
    ds.save_to_disk(str(tmp_path / "ds"))
    t = read_table(tmp_path / "ds")
    assert t.column("answer").to_pylist() == ["2", "4"]
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(InputError, match="splits train"):
        read_table(tmp_path / "dd")


def test_moved_compares_two_measurements():
    before = pa.table({"problem_id": ["a", "b", "c"], "pass_rate": [0.0, 0.5, 1.0], "stages": ["sft_bridge", "rl", "drop"]})
    after = pa.table({"problem_id": ["a", "b", "c"], "pass_rate": [0.25, 0.25, 1.0], "stages": ["rl", "rl", "drop"]})
    problems = pa.table({"problem_id": ["a", "b", "c"], "level": [1, 1, 2]})
    m = loop.moved(before, after, problems)
    assert m["transitions"] == {"bridge->rl": 1, "drop->drop": 1, "rl->rl": 1}
    assert (m["improved"], m["worsened"]) == (1, 1)
    assert m["by_level"]["1"] == {"before": 0.25, "after": 0.25, "problems": 2}


def _given(name: str, writes: tuple[str, ...], tables: dict):
    """A step that writes the given tables (what a test sets up for the step under test)."""

    def fn(ctx):
        for t, table in tables.items():
            ctx.write(t, table)

    return step(name, writes=writes)(fn)


def test_cft_step_with_an_llm_critic(tmp_path, scripted):
    """The CFT step of a round: all-zero GRPO groups -> critiques written by a generator -> verified records."""
    problems = make_ladder(4, seed=0, levels=[4])
    gen = scripted(problems)
    cfg = _cfg(tmp_path / "run", critic="generator")
    ids = problems["problem_id"].to_pylist()
    rl = pa.table({"step": [1] * 8, "problem_id": [ids[0]] * 4 + [ids[1]] * 4,
                   "prompt": ["<rendered chat>"] * 8, "completion": [f"wrong {i}: \\boxed{{-1}}" for i in range(8)],
                   "answer": [problems["answer"][0].as_py()] * 4 + [problems["answer"][1].as_py()] * 4,
                   "correct": [False] * 7 + [True]})
    with Runner(cfg.out, command="run", config=cfg, engine=LocalEngine(), generator_factory=scripted.factory) as rn:
        done = rn.run(_given("rl", ("rl_train", "rl_rollouts", "student/"), {"rl_rollouts": rl}), round=0)
        inputs = rn.given("problems", "p", Inputs(problems, None, {}, "test"))
        student = rn.given("student", "s", loop.Student("transformers", "scripted", "k"))
        rn.run(steps.CFT_CRITIC, round=0, inputs={"rl": done, "problems": inputs, "student": student})
    cft = pq.read_table(tmp_path / "run" / "round-0" / "cft.parquet")
    # Only the first problem's group is all-zero: 4 diagnoses by the critic, 4 repairs, 1 new trace.
    assert set(cft["problem_id"].to_pylist()) == {ids[0]}
    assert sorted(cft["kind"].to_pylist()) == ["diagnosis"] * 4 + ["new_trace"] + ["repair"] * 4
    diag = cft.filter(pc.equal(cft["kind"], "diagnosis"))
    assert set(diag["critic"].to_pylist()) == {"supplied"}
    assert gen.calls == [4]  # one critique per failed attempt
    assert all(problems["prompt"][0].as_py() in p for p in diag["prompt"].to_pylist())  # the problem, not the chat
    assert all(sk.verify(r, a) for r, a in zip(cft["response"].to_pylist(), cft["answer"].to_pylist(), strict=True))


@pytest.mark.slow
def test_engine_ray_gives_the_local_stage_sets(tmp_path, scripted):
    pytest.importorskip("ray")
    problems = make_ladder(12, seed=0, levels=[1, 2, 3, 4])
    scripted(problems)
    loop.run(_cfg(tmp_path / "local"), generator_factory=scripted.factory)
    try:
        loop.run(_cfg(tmp_path / "ray", engine="ray"), generator_factory=scripted.factory)
    finally:
        import ray

        ray.shutdown()
    for name in ("stats", "sft", "rl", "drop", "bridge", "sft_train"):
        a = pq.read_table(tmp_path / "local" / "round-0" / f"{name}.parquet")
        b = pq.read_table(tmp_path / "ray" / "round-0" / f"{name}.parquet")
        assert a.select(sorted(a.column_names)).equals(b.select(sorted(b.column_names))), name


def test_own_problems_with_column_mapping_on_real_gsm8k(tmp_path, scripted):
    """Real GSM8K test problems: `question`, and `answer` serving as gold and as teacher trace."""
    from e2e_helpers import SHARED

    path = SHARED / "benchmarks" / "gsm8k_test.openai.jsonl"
    if not path.is_file():
        pytest.skip(f"real data not found at {path}")
    problems = read_table(path).slice(0, 12).rename_columns(["prompt", "answer"])
    scripted(problems)
    m = loop.run(_cfg(tmp_path / "run", problems=str(path), max_problems=12, prompt_column="question",
                      answer_column="answer", trace_column="answer"), generator_factory=scripted.factory)
    r0 = tmp_path / "run" / "round-0"
    kept = pq.read_table(tmp_path / "run" / "problems.parquet")
    assert kept.num_rows == 12 and kept["problem_id"].to_pylist() == [str(i) for i in range(12)]
    assert kept["solution"].equals(kept["answer"])  # one column, two roles
    assert m["rounds"][0]["rows"]["rollouts"] == 48 and sum(m["rounds"][0]["rows"][s] for s in ("sft", "rl", "drop")) == 12
    bridge = pq.read_table(r0 / "bridge.parquet")
    sft = pq.read_table(r0 / "sft.parquet")
    assert bridge.num_rows == pc.sum(sft["bridge"]).as_py() > 0
    # Every Bridge target ends in a verified answer (a continuation that passed, or the teacher's trace).
    golds = dict(zip(kept["problem_id"].to_pylist(), kept["answer"].to_pylist(), strict=True))
    assert all(sk.verify(t, golds[p]) for p, t in zip(bridge["problem_id"].to_pylist(), bridge["target"].to_pylist(), strict=True))


def test_problems_without_teacher_traces(tmp_path, scripted):
    p = tmp_path / "p.csv"
    p.write_text("id,question,gold\n" + "".join(f"q{i},What is {i} + {i}?,{2 * i}\n" for i in range(6)))
    problems = pa.table({"prompt": [f"What is {i} + {i}?" for i in range(6)], "answer": [str(2 * i) for i in range(6)],
                         "level": [4] * 6})  # the stand-in never solves level 4: every problem goes to SFT
    scripted(problems)
    m = loop.run(_cfg(tmp_path / "run", problems=str(p), id_column="id", prompt_column="question", answer_column="gold"),
                 generator_factory=scripted.factory)
    assert m["rounds"][0]["rows"]["sft"] == 6
    assert m["rounds"][0]["rows"]["bridge"] == 0 and m["rounds"][0]["rows"]["sft_train"] == 0
    assert "no hard SFT problem with a teacher trace" in m["steps"]["round-0/bridge"]["skipped"]


@pytest.mark.slow
def test_sampling_in_ray_actors_with_the_real_model(tmp_path):
    """--engine ray --ray-actors 1: the real student sampled in a Ray actor pool (the model loaded once per
    actor), rows collected sorted by (problem_id, sample)."""
    pytest.importorskip("ray")
    from e2e_helpers import need_trl

    need_trl()
    cfg = _cfg(tmp_path / "run", ladder_problems=4, ladder_levels="1,2", k=2, max_new_tokens=12, engine="ray", ray_actors=1,
               model=None)
    try:
        m = loop.run(cfg)
    finally:
        import ray

        ray.shutdown()
    rollouts = pq.read_table(tmp_path / "run" / "round-0" / "rollouts.parquet")
    assert rollouts["problem_id"].to_pylist() == [p for p in sorted(make_ladder(4, levels=[1, 2])["problem_id"].to_pylist()) for _ in (0, 1)]
    assert rollouts["sample"].to_pylist() == [0, 1] * 4
    assert all(isinstance(c, str) for c in rollouts["completion"].to_pylist())
    assert m["rounds"][0]["rows"]["stats"] == 4


def test_ray_actors_need_the_ray_engine():
    with pytest.raises(InputError, match="--ray-actors needs --engine ray"):
        RunConfig(ray_actors=2)


def test_next_rounds_sft_set_takes_the_last_rounds_cft_records(tmp_path):
    sft = pa.table({"problem_id": ["a", "b"], "prompt": ["A?", "B?"], "bridge": [False, True],
                    "solution": ["1 + 1 = 2.\n\\boxed{2}", "x"]})
    bridge = pa.table({"problem_id": ["b"], "prompt": ["B?"], "target": ["1 + 2 = <<1+2=3>>3\n#### 3"],
                    "fallback": [False]})
    cft = sk.cft_records(pa.table({"problem_id": ["c"], "prompt": ["C?"], "answer": ["4"],
                                   "completion": ["2 + 2 = 5.\n\\boxed{5}"], "solution": ["2 + 2 = 4."]}))
    cfg = _cfg(tmp_path / "run")
    with Runner(cfg.out, command="run", config=cfg) as rn:
        stages = rn.run(_given("stages", ("sft_set", "rl_set"), {"sft_set": sft}), round=1)
        br = rn.run(_given("bridge", ("bridge_rollouts", "bridge"), {"bridge": bridge}), round=1)
        prev = rn.run(_given("cft", ("cft",), {"cft": cft}), round=0)
        rn.run(steps.SFT_DATA, round=1, inputs={"stages": stages, "bridge": br, "cft": prev})
    t = pq.read_table(tmp_path / "run" / "round-1" / "sft_train.parquet")
    assert t["source"].to_pylist() == ["teacher", "bridge", "cft_diagnosis", "cft_repair", "cft_new_trace"]
    assert t["problem_id"].to_pylist() == ["a", "b", "c", "c", "c"]
    assert [m[0]["content"] for m in t["prompt"].to_pylist()][:2] == ["A?", "B?"]
    # every target in the one SFT format (to_sft's default): no calculator annotation, the answer boxed last
    targets = [m[0]["content"] for m in t["completion"].to_pylist()]
    assert targets[1] == "1 + 2 = 3\nThe final answer is $\\boxed{3}$."
    assert all(sk.extract_answer(x) is not None and "####" not in x and "<<" not in x for x in targets)
