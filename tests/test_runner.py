"""The step runner of ``stagekit run``: keys derived from the step declarations, generated over every option
(changing an option recomputes exactly the steps that read it and those downstream, and the resumed run
equals a fresh one), undeclared reads refused, the lock, the manifest, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stagekit as sk
from stagekit import loop, steps
from stagekit.cli import main
from stagekit.config import NOT_AFFECTING, STRUCTURE, RunConfig
from stagekit.engine import LocalEngine
from stagekit.inputs import PROBLEMS
from stagekit.io import InputError, atomic_write
from stagekit.io import write_table
from stagekit.ladder import make_ladder
from stagekit.rundir import (
    SCHEMA_VERSION, CorruptOutput, Manifest, RunDir, RunDirBusy, StepRecord, read_manifest, write_manifest,
)
from stagekit.runner import Runner, UndeclaredRead, step
from e2e_helpers import SHARED
from stand_in import StandInFactory, StandInTrainer, heldout_of

TESTS = Path(__file__).resolve().parent
BENCHMARKS_DIR = SHARED / "benchmarks"
BASE = {"ladder_problems": 6, "ladder_levels": "1,2,3,4", "k": 4, "rounds": 1, "train": True, "model": "stand-in",
        "progress": False, "sft_steps": 2, "grpo_steps": 2}


def _cfg(out: Path, **kw: Any) -> RunConfig:
    return RunConfig(**{"out": str(out), **BASE, **kw})


class Lines:
    """A log that keeps its lines (which steps ran, which were found done)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, msg: str) -> None:
        self.lines.append(msg)

    @property
    def ran(self) -> set[str]:
        return {x[: -len(" ...")] for x in self.lines if x.endswith(" ...") and " " not in x[: -len(" ...")]}


def _run(cfg: RunConfig) -> tuple[Manifest, Lines, StandInFactory]:
    factory = StandInFactory(make_ladder(cfg.ladder_problems, seed=cfg.seed, levels=cfg.levels()) if not cfg.problems
                             and not cfg.rollouts else _problems_of(cfg), heldout_of(cfg))
    log = Lines()
    m = loop.run(cfg, log, generator_factory=factory, trainer=StandInTrainer(factory), engine=LocalEngine())
    return m, log, factory


def _problems_of(cfg: RunConfig) -> pa.Table:
    from stagekit.inputs import Inputs

    with Runner(Path(cfg.out).parent / ".probe", command="probe", config=cfg) as rn:
        inputs: Inputs = rn.source(steps.SOURCES[0]).value
    return inputs.problems


# ---------------------------------------------------------------------------------------------- declarations


def test_every_option_is_read_by_a_step_or_declared_as_changing_no_result():
    """An option that no step or source reads, and that is not declared as changing no result or as deciding
    which steps exist, is an option whose effect no key records: this test fails on it."""
    readers: dict[str, list[str]] = {}
    for s in steps.STEPS:
        for f in s.reads:
            readers.setdefault(f, []).append(f"step {s.name}")
    for src in steps.SOURCES:
        for f in src.reads:
            readers.setdefault(f, []).append(f"source {src.name}")
    options = {f.name for f in dataclasses.fields(RunConfig)}
    unaccounted = options - set(readers) - set(NOT_AFFECTING) - set(STRUCTURE)
    assert not unaccounted, f"options read by no step and not declared as changing no result: {sorted(unaccounted)}"
    assert not (set(readers) & set(NOT_AFFECTING)), "an option cannot both change results and not"
    assert not (set(readers) & set(STRUCTURE))
    assert set(NOT_AFFECTING) | set(STRUCTURE) | set(readers) == options  # nothing declared that is not an option
    # the bug this replaced: batch_size changes TransformersGenerator's completions
    assert all("batch_size" in s.reads for s in (steps.MEASURE, steps.BRIDGE, steps.CFT_CRITIC))


def _alternate(name: str, cfg: RunConfig, tmp: Path) -> dict[str, Any] | None:
    """Another valid value of option ``name`` (with the options it needs), generated from its type and choices;
    None for ``out`` (the directory itself)."""
    if name == "out":
        return None
    ladder = make_ladder(cfg.ladder_problems, seed=cfg.seed, levels=cfg.levels())
    special: dict[str, Any] = {
        # the same problems from a file: the content is unchanged, so nothing is recomputed
        "problems": lambda: (write_table(ladder, tmp / "problems.jsonl"), str(tmp / "problems.jsonl"))[1],
        "rollouts": lambda: (write_table(sk.generate(ladder, StandInFactory(ladder)(loop.Student("x", "given", "k"), cfg),
                                                     n=3, show_progress=False), tmp / "given.parquet"),
                             str(tmp / "given.parquet"))[1],
        "ladder_levels": "1,2,3", "bridge_cuts": "all", "id_column": "pid", "prompt_column": "question",
        "answer_column": "gold", "trace_column": "trace", "completion_column": "text", "api_key_env": "OTHER_KEY",
        "model": "stand-in-2", "base_url": "http://127.0.0.1:9/v1", "train_model": "elsewhere",
        "critic_model": "critic-x", "critic_base_url": "http://127.0.0.1:9/v1", "address": "ray://nowhere:1",
        # a benchmark besides the held-out ladder (from the shared data), or the ladder alone named explicitly
        "eval": "ladder,mawps" if BENCHMARKS_DIR.is_dir() else "ladder", "eval_data": str(BENCHMARKS_DIR),
    }
    # options that go with an alternate: `auto` evaluates on the built-in ladder only, so the same problems
    # from a file keep their held-out ladder by naming it
    along: dict[str, dict[str, Any]] = {"problems": {"eval": "ladder"}, "rollouts": {"eval": "ladder"},
                                        "eval": {"eval_data": str(BENCHMARKS_DIR)} if BENCHMARKS_DIR.is_dir() else {}}
    f = RunConfig.__dataclass_fields__[name]
    value = getattr(cfg, name)
    choices = f.metadata.get("choices")
    if name in special:
        v = special[name]
        candidates = [v() if callable(v) else v]
    elif choices:
        candidates = [c for c in choices if c != value]
    elif isinstance(value, bool):
        candidates = [not value]
    elif isinstance(value, int):
        candidates = [value + 1]
    elif isinstance(value, float):
        candidates = [value / 2 if value else 0.5]
    elif value is None and "int" in str(f.type):
        candidates = [1]
    else:
        raise AssertionError(f"no alternate value for option {name!r}: add one to this test")
    for c in candidates:
        for extra in ({}, {"engine": "ray"}, {"base_url": "http://127.0.0.1:9/v1"}):
            extra = {**along.get(name, {}), **extra}
            try:
                dataclasses.replace(cfg, **{name: c, **extra})
                return {name: c, **extra}
            except InputError:
                continue
    raise AssertionError(f"no valid alternate value for option {name!r}")


def _affected(m: Manifest, changed: dict[str, Any], new: Manifest) -> set[str]:
    """The steps of ``m`` that must recompute when the options ``changed`` change: those that read one of
    them, those that take a source whose key changed, and everything downstream of those (through the
    input keys each step recorded)."""
    by_key = {rec.key: name for name, rec in m.steps.items()}
    sources = {m.sources[n].key for n in m.sources if n in new.sources and new.sources[n].key != m.sources[n].key}
    hit: set[str] = set()
    for name in sorted(m.steps, key=lambda n: (int(n.split("/")[0].split("-")[1]) if "/" in n else -1, n)):
        rec = m.steps[name]
        if set(rec.reads) & set(changed) or any(k in sources for k in rec.inputs.values()):
            hit.add(name)
    grew = True
    while grew:
        grew = False
        for name, rec in m.steps.items():
            if name not in hit and any(by_key.get(k) in hit for k in rec.inputs.values() if k):
                hit.add(name)
                grew = True
            # an intermediate output that was removed (the SFT model) is made again when a step taking it reruns
            if name in hit:
                for k in rec.inputs.values():
                    up = by_key.get(k)
                    if up and up not in hit and m.steps[up].removed:
                        hit.add(up)
                        grew = True
    return hit


def _outputs_equal(a: Path, b: Path, ma: Manifest, mb: Manifest) -> list[str]:
    """Differences between the outputs of the steps of ``mb`` (a fresh run) in ``b`` and in ``a``."""
    diffs = []
    for name, rec in mb.steps.items():
        other = ma.steps.get(name)
        if other is None or other.key != rec.key:
            diffs.append(f"{name}: key {other and other.key} vs fresh {rec.key}")
            continue
        for out, o in rec.written.items():
            pa_, pb = a / o.path, b / o.path
            if o.kind == "dir":
                fa, fb = (sorted(x.relative_to(p).as_posix() for x in p.rglob("*")) for p in (pa_, pb))
                if fa != fb or any((pa_ / x).is_file() and (pa_ / x).read_bytes() != (pb / x).read_bytes() for x in fa):
                    diffs.append(f"{name}: {out}/ differs")
            elif not pq.read_table(pa_).equals(pq.read_table(pb)):
                diffs.append(f"{name}: {out} differs")
    if not pq.read_table(a / "problems.parquet").equals(pq.read_table(b / "problems.parquet")):
        diffs.append("problems.parquet differs")
    return diffs


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    d = tmp_path_factory.mktemp("base") / "run"
    m, log, factory = _run(_cfg(d))
    # the baseline exercises every step with data: Bridge problems, RL rollouts, all-zero groups
    r0 = m.rounds[0].rows
    assert r0["bridge"] > 0 and r0["rl_rollouts"] > 0 and r0["cft"] > 0 and r0["sft_train"] > 0, r0
    assert {"round-0/sft", "round-0/rl", "round-0/cft", "round-1/measure", "round-1/plan"} <= log.ran
    return d, m


OPTIONS = [f.name for f in dataclasses.fields(RunConfig)]


@pytest.mark.parametrize("name", OPTIONS)
def test_changing_an_option_recomputes_exactly_the_steps_that_read_it(name, baseline, tmp_path, monkeypatch):
    """For every option: a resumed run with another value recomputes the steps that read it (and what is
    downstream of them) and nothing else, and its outputs equal a fresh run's with that value."""
    base_dir, base = baseline
    change = _alternate(name, _cfg(base_dir), tmp_path)
    if change is None:
        assert name in NOT_AFFECTING
        return
    if name == "threads":  # the loop sets torch's threads: a stand-in torch keeps this test light
        monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(set_num_threads=lambda n: None))
    d = tmp_path / "resumed"
    shutil.copytree(base_dir, d)
    m, log, factory = _run(_cfg(d, **change))
    existing = set(base.steps)
    if name in STRUCTURE:
        assert not (log.ran & existing), f"{name} recomputed existing steps {sorted(log.ran & existing)}"
    else:
        expected = _affected(base, change, m)
        assert log.ran & existing == expected, (name, sorted(log.ran & existing), sorted(expected))
        if name in NOT_AFFECTING:
            assert not expected
        else:
            assert expected or name in {"problems", "max_problems", "base_url", "train_model", "id_column",
                                        "prompt_column", "answer_column", "trace_column", "completion_column",
                                        "critic_generator", "critic_model", "critic_base_url", "eval_data",
                                        *(() if BENCHMARKS_DIR.is_dir() else ("eval",))}, \
                f"changing {name} recomputed nothing: an option that is read must change some key"
    if not log.ran and name not in STRUCTURE:
        return  # nothing ran: the outputs are the baseline's, compared with a fresh run of it below
    if existing <= log.ran:
        return  # everything ran again: nothing was reused that a fresh run could disagree with
    fresh = tmp_path / "fresh"
    mf, _, _ = _run(_cfg(fresh, **change))
    diffs = _outputs_equal(d, fresh, m, mf)
    assert not diffs, f"resumed with {change} differs from a fresh run: {diffs}"


def test_a_resumed_run_with_nothing_changed_equals_a_fresh_one(baseline, tmp_path):
    base_dir, base = baseline
    d = tmp_path / "resumed"
    shutil.copytree(base_dir, d)
    m, log, factory = _run(_cfg(d))
    assert not log.ran and factory.calls == 0
    mf, _, _ = _run(_cfg(tmp_path / "fresh"))
    assert not _outputs_equal(d, tmp_path / "fresh", m, mf)


def test_batch_size_recomputes_the_sampling_steps(tmp_path):
    """The bug this runner replaced: measure and Bridge left batch_size out of their keys, so a re-run with
    --batch-size 1 after 16 reused both (0 generator calls) with samples the new options do not give."""
    cfg = _cfg(tmp_path / "run", train=False, batch_size=16)
    _run(cfg)
    m, log, factory = _run(dataclasses.replace(cfg, batch_size=1))
    assert {"round-0/measure", "round-0/bridge"} <= log.ran and factory.calls >= 2
    fresh, _, _ = _run(dataclasses.replace(cfg, out=str(tmp_path / "fresh"), batch_size=1))
    assert not _outputs_equal(tmp_path / "run", tmp_path / "fresh", m, fresh)


# ---------------------------------------------------------------------------------------------- the runner


def test_a_step_that_reads_an_undeclared_option_fails(tmp_path):
    @step("sneaky", reads=("k",), writes=("out",))
    def sneaky(ctx):
        ctx.write("out", pa.table({"k": [ctx.cfg.k], "t": [ctx.cfg.temperature]}))

    @step("honest", reads=("k",), writes=("out",))
    def honest(ctx):
        ctx.write("out", pa.table({"k": [ctx.cfg.k], "progress": [ctx.cfg.progress]}))  # progress changes nothing

    cfg = _cfg(tmp_path / "run")
    with Runner(cfg.out, command="run", config=cfg) as rn:
        with pytest.raises(UndeclaredRead, match="step round-0/sneaky reads the option 'temperature'"):
            rn.run(sneaky, round=0)
        assert "round-0/sneaky" not in rn.manifest.steps
        done = rn.run(honest, round=0)
        assert done.record.reads == {"k": 4}
        # methods of the config are checked too: cuts() reads bridge_cuts
        with pytest.raises(UndeclaredRead, match="bridge_cuts"):
            rn.run(step("cuts", writes=("out",))(lambda ctx: ctx.cfg.cuts()), round=0)


def test_a_generator_built_in_one_step_is_checked_in_the_next(tmp_path):
    """The generator is cached across steps; a step that reuses it must still declare what it was built from."""
    factory = StandInFactory(make_ladder(2, levels=[1]))
    student = loop.Student("transformers", "stand-in", "k")

    @step("first", reads=("batch_size", "seed"), takes=("student",))
    def first(ctx):
        ctx.generator(ctx.value("student"))()

    @step("second", reads=("seed",), takes=("student",))
    def second(ctx):
        ctx.generator(ctx.value("student"))()

    cfg = _cfg(tmp_path / "run")
    with Runner(cfg.out, command="run", config=cfg, generator_factory=factory) as rn:
        s = rn.given("student", "k", student)
        rn.run(first, round=0, inputs={"student": s})
        with pytest.raises(UndeclaredRead, match="batch_size"):
            rn.run(second, round=0, inputs={"student": s})
    assert len(factory.made) == 1


def test_steps_read_only_their_inputs_tables_and_write_only_their_declared_outputs(tmp_path):
    cfg = _cfg(tmp_path / "run")

    @step("a", writes=("x",))
    def a(ctx):
        ctx.write("x", pa.table({"v": [1]}))

    @step("b", takes=("a",), writes=("y",))
    def b(ctx):
        ctx.write("y", ctx.read("x"))

    @step("c", writes=("y",))
    def c(ctx):
        ctx.read("x")

    @step("d", writes=("y",))
    def d(ctx):
        ctx.write("z", pa.table({"v": [1]}))

    with Runner(cfg.out, command="run", config=cfg) as rn:
        da = rn.run(a, round=0)
        assert rn.run(b, round=1, inputs={"a": da}).record.written["y"].rows == 1
        with pytest.raises(RuntimeError, match="reads the table 'x'"):
            rn.run(c, round=0)
        with pytest.raises(RuntimeError, match="writes 'z', which it does not declare"):
            rn.run(d, round=0)
        with pytest.raises(ValueError, match="takes a; given nothing"):
            rn.run(b, round=0)


def test_a_step_writes_a_table_in_parts_and_the_next_reads_it(tmp_path):
    cfg = _cfg(tmp_path / "run")
    t = pa.table({"x": list(range(7))})

    @step("stream", writes=("rows",))
    def stream(ctx):
        ctx.write_parts("rows", (t.slice(i, 2) for i in range(0, 7, 2)))

    @step("count", takes=("stream",), writes=("n",))
    def count(ctx):
        ctx.write("n", pa.table({"n": [ctx.read("rows").num_rows]}))

    with Runner(cfg.out, command="run", config=cfg) as rn:
        done = rn.run(stream, round=0)
        out = done.record.written["rows"]
        assert out.kind == "parts" and out.rows == 7 and len(out.parts) == 4
        assert rn.run(count, round=0, inputs={"stream": done}).record.written["n"].rows == 1
    assert pq.read_table(tmp_path / "run" / "round-0" / "n.parquet")["n"].to_pylist() == [7]
    rec = read_manifest(tmp_path / "run").steps["round-0/stream"]
    assert [p.rows for p in rec.written["rows"].parts] == [2, 2, 2, 1]  # recorded per part
    with Runner(cfg.out, command="run", config=cfg) as rn:  # found done: its parts are all there
        assert rn.is_done(stream, 0, rn.run(stream, round=0).key) is not None


def test_keys_come_from_reads_inputs_and_version(tmp_path):
    cfg = _cfg(tmp_path / "run")
    calls = []

    def make(version: int):
        @step("s", reads=("k",), takes=("v",), writes=("t",), version=version)
        def s(ctx):
            calls.append(version)
            ctx.write("t", pa.table({"k": [ctx.cfg.k]}))

        return s

    with Runner(cfg.out, command="run", config=cfg) as rn:
        v1, v2 = rn.given("v", "one", None), rn.given("v", "two", None)
        k1 = rn.run(make(1), round=0, inputs={"v": v1}).key
        assert rn.run(make(1), round=0, inputs={"v": v1}).key == k1 and calls == [1]  # found done
        assert rn.run(make(1), round=0, inputs={"v": v2}).key != k1  # another input
        assert rn.run(make(2), round=0, inputs={"v": v2}).key not in (k1,) and calls == [1, 1, 2]  # new code
    with Runner(cfg.out, command="run", config=dataclasses.replace(cfg, k=5)) as rn:
        rn.run(make(2), round=0, inputs={"v": rn.given("v", "two", None)})
        assert calls == [1, 1, 2, 2]  # another value of a read option
    # an output removed (or changed in size) behind the runner's back: the step runs again
    (tmp_path / "run" / "round-0" / "t.parquet").unlink()
    with Runner(cfg.out, command="run", config=dataclasses.replace(cfg, k=5)) as rn:
        rn.run(make(2), round=0, inputs={"v": rn.given("v", "two", None)})
    assert calls == [1, 1, 2, 2, 2]


def test_a_step_that_fails_half_way_leaves_no_record_and_runs_again(tmp_path):
    cfg = _cfg(tmp_path / "run")
    fail = [True]

    @step("s", writes=("a", "b"))
    def s(ctx):
        ctx.write("a", pa.table({"v": [len(fail)]}))
        if fail[0]:
            raise KeyboardInterrupt
        ctx.write("b", pa.table({"v": [2]}))

    with Runner(cfg.out, command="run", config=cfg) as rn:
        fail[0] = False
        rn.run(s, round=0)
    fail[:] = [True, True]
    with Runner(cfg.out, command="run", config=cfg) as rn:
        with pytest.raises(KeyboardInterrupt):
            rn.run(s, round=0, force=True)
    assert "round-0/s" not in read_manifest(tmp_path / "run").steps  # 'a' was rewritten: the old record is gone
    fail[0] = False
    with Runner(cfg.out, command="run", config=cfg) as rn:
        assert rn.run(s, round=0).record.written["b"].rows == 1


# ---------------------------------------------------------------------------------------------- the directory


_HOLD = """
import sys, time
from stagekit.rundir import RunDir
lock = RunDir(sys.argv[1]).lock()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_one_process_at_a_time_per_directory(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(out), "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        code = main(["run", "--out", str(out), "--no-train", "--no-progress", "--model", "x"])
        err = capsys.readouterr().err
        assert code == 4 and "another stagekit process is using this directory" in err and str(out) in err
        code = main(["plan", str(TESTS / "nonexistent.jsonl"), "-o", str(out)])
        assert code == 2  # bad input is reported first, before the directory is touched
        with pytest.raises(RunDirBusy):
            Runner(out, command="plan", config=RunConfig())
        assert list(out.iterdir()) == []  # the refused commands wrote nothing
    finally:
        proc.kill()  # SIGKILL: the kernel releases the lock
        proc.wait()
    with Runner(out, command="run", config=RunConfig()) as rn:
        with pytest.raises(RunDirBusy):  # also within one process: a second runner is refused
            Runner(out, command="run", config=RunConfig())
    Runner(out, command="run", config=RunConfig()).close()  # released by close()


def test_the_directory_is_refused_unless_empty_or_the_same_commands(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="is not empty and is not a stagekit plan directory"):
        Runner(tmp_path / "mine", command="plan", config=RunConfig())
    write_manifest(tmp_path / "run", Manifest("run"))
    with pytest.raises(InputError, match="holds a `stagekit run` output, not a plan"):
        Runner(tmp_path / "run", command="plan", config=RunConfig())
    # a directory holding only what a killed writer left is ours: cleaned, then used
    (tmp_path / "left").mkdir()
    (tmp_path / "left" / ".manifest.json.1234abcd.sk-tmp").write_text("{partial")
    with Runner(tmp_path / "left", command="plan", config=RunConfig()) as rn:
        assert not list(rn.dir.path.iterdir())
    assert (tmp_path / "left").is_dir()  # it existed before: kept
    with Runner(tmp_path / "new", command="plan", config=RunConfig()):
        pass
    assert not (tmp_path / "new").exists()  # made by the runner and left empty (bad input, say): removed


def test_temporaries_left_by_a_killed_writer_are_removed_by_the_next_runner(tmp_path):
    cfg = _cfg(tmp_path / "run")
    with Runner(cfg.out, command="run", config=cfg) as rn:
        rn.save()
    junk = [tmp_path / "run" / "round-0" / ".stats.parquet.0badc0de.sk-tmp", tmp_path / "run" / ".scratch-abc" / "x",
            tmp_path / "run" / "round-0" / ".rollouts.1234abcd.sk-tmp" / "part-00000.parquet"]
    for j in junk:
        j.parent.mkdir(parents=True, exist_ok=True)
        j.write_text("partial")
    (tmp_path / "run" / "round-0" / "keep.parquet").write_text("not ours to judge")
    with Runner(cfg.out, command="run", config=cfg) as rn:
        assert rn.dir.temporaries() == []
    assert not any(j.exists() for j in junk) and (tmp_path / "run" / "round-0" / "keep.parquet").exists()


# ---------------------------------------------------------------------------------------------- the manifest


def test_the_manifest_round_trips_and_has_a_schema_version(tmp_path):
    m, _, _ = _run(_cfg(tmp_path / "run", train=False))
    text = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert text["schema_version"] == SCHEMA_VERSION == 2
    back = read_manifest(tmp_path / "run")
    assert back.to_json() == m.to_json() == text
    rec = back.steps["round-0/plan"]
    assert set(rec.written) == {"stats", "sft", "rl", "drop"} and rec.reads == {"scheme": "zero_partial_full",
                                                                                  "keep_all_correct": False, "k": 4,
                                                                                  "engine": "local"}
    assert set(rec.inputs) == {"measure", "problems"} and rec.inputs["measure"] == back.steps["round-0/measure"].key
    for out in rec.written.values():  # each output: rows, size and sha256 as written
        assert pq.ParquetFile(tmp_path / "run" / out.path).metadata.num_rows == out.rows
        RunDir(tmp_path / "run").verify(out, "round-0/plan")
    assert back.sources["problems"].reads["ladder_problems"] == 6
    # dict-style reads of the JSON form, for callers that took the dict
    assert m["rounds"][0]["rows"]["stats"] == 6 and m.get("moved")["problems"] == 6


def test_manifests_from_elsewhere(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "manifest.json").write_text(json.dumps({"command": "run", "schema_version": 99}))
    with pytest.raises(InputError, match="schema version 99 was written by a newer stagekit"):
        read_manifest(tmp_path / "new")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match=str(tmp_path / "bad" / "manifest.json")):
        read_manifest(tmp_path / "bad")
    assert main(["report", str(tmp_path / "bad")]) == 2
    # version 1 (before the runner): readable, its steps' outputs as paths
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "manifest.json").write_text(json.dumps({"command": "run", "steps": {"round-0/sft": {
        "key": "k", "outputs": ["round-0/sft-model"], "seconds": 1.5, "losses": [1.0]}}, "rounds": [
        {"round": 0, "rows": {"stats": 2}, "bridge": 0, "pass_rate_mean": 0.5}]}))
    m = read_manifest(tmp_path / "v1")
    assert m.schema_version == 1 and m.steps["round-0/sft"].written["sft-model"].kind == "dir"
    assert m.steps["round-0/sft"].notes == {"losses": [1.0]} and m.rounds[0].rows == {"stats": 2}
    # keys it does not know are kept
    assert Manifest.from_json({"command": "plan", "future": 1}).to_json()["future"] == 1


def test_a_table_in_parts_and_the_hash_check(tmp_path):
    run = RunDir(tmp_path)
    t = pa.table({"x": list(range(10))})
    out = run.write_parts(0, "big", (t.slice(i, 3) for i in range(0, 10, 3)))
    assert out.kind == "parts" and out.rows == 10 and [p.rows for p in out.parts] == [3, 3, 3, 1]
    assert run.read_table(0, "big").equals(t) and run.present(out)
    run.verify(out)
    again = run.write_parts(0, "big", [t.slice(0, 5), t.to_batches()[0].slice(5)])  # replaces all the parts
    assert [p.rows for p in again.parts] == [5, 5] and run.read_table(0, "big").equals(t)
    assert not run.present(out) and run.present(again)
    with (tmp_path / again.parts[1].path).open("r+b") as f:  # a changed byte, the same size
        f.seek(10)
        b = f.read(1)
        f.seek(10)
        f.write(bytes([b[0] ^ 1]))
    assert run.present(again)
    with pytest.raises(CorruptOutput, match="part-00001.parquet: its contents differ .* step round-0/x; re-run it"):
        run.verify(again, "round-0/x")
    one = run.write_table(0, "big", t)  # one file again: the parts directory goes
    assert not (tmp_path / "round-0" / "big").exists() and run.read_table(0, "big").equals(t) and run.present(one)
    record = StepRecord("k", {"big": one})
    assert StepRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


# ---------------------------------------------------------------------------------------------- atomic_write


def test_atomic_write_bytes_text_and_callbacks(tmp_path):
    import hashlib

    w = atomic_write(tmp_path / "a" / "b.bin", b"\x00\x01")
    assert w.path.read_bytes() == b"\x00\x01" and w.size == 2 and w.sha256 == hashlib.sha256(b"\x00\x01").hexdigest()
    w = atomic_write(tmp_path / "t.txt", "héllo")
    assert w.path.read_text(encoding="utf-8") == "héllo"
    t = pa.table({"x": list(range(1000))})
    w = atomic_write(tmp_path / "t.parquet", lambda f: pq.write_table(t, f))
    assert pq.read_table(w.path).equals(t) and w.sha256 == hashlib.sha256(w.path.read_bytes()).hexdigest()
    assert w.size == w.path.stat().st_size
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_atomic_write_leaves_the_old_file_on_error(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")

    def boom(f):
        f.write(b"new, half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, boom)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_atomic_write_keeps_the_mode_and_respects_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        new = atomic_write(tmp_path / "new.txt", "x").path
        assert new.stat().st_mode & 0o777 == 0o640
        (tmp_path / "shared.txt").write_text("x")
        os.chmod(tmp_path / "shared.txt", 0o644)
        atomic_write(tmp_path / "shared.txt", "y")
        assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_concurrent_writers_of_one_file_never_leave_a_mixed_file(tmp_path):
    target = tmp_path / "t.txt"
    errors = []

    def writer(i: int) -> None:
        try:
            for _ in range(30):
                atomic_write(target, str(i) * 5000)
        except Exception as e:  # pragma: no cover - the failure this test looks for
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    seen = set()
    while any(th.is_alive() for th in threads):
        if target.exists():
            text = target.read_text()
            seen.add(len(set(text)))
        time.sleep(0.001)
    for th in threads:
        th.join()
    assert not errors and seen <= {1} and len(set(target.read_text())) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]
