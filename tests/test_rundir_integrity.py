"""A run directory loses nothing and never mixes results: plan refuses directories that are not its own, the
tables of a step are one unit (checked against the sha256 their step recorded by every reader: the report,
a resumed run, plan run again), a killed plan's leftovers never show in a report, and the temporary files
a kill -9 leaves are removed by the next run."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stagekit.cli import main
from stagekit.io import TEMP_SUFFIX
from stagekit.rundir import RunDir, read_manifest

TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
    [str(TESTS.parent / "python"), str(TESTS), os.environ.get("PYTHONPATH", "")])}


def _rows(n: int, seed: int = 0) -> list[dict]:
    return [{"problem_id": f"p{i // 4}", "completion": f"so \\boxed{{{(i * 7 + seed) % 3}}}", "answer": "1"}
            for i in range(n)]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _cli(*argv: str, factory: object = None) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv), generator_factory=factory)
    return code, err.getvalue()


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _tables(d: Path) -> dict[str, list]:
    run = RunDir(d)
    return {name: run.read_table(0, name).to_pylist() for name in ("rollouts", "stats", "sft", "rl", "drop")}


# ------------------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("kind", ["a user's manifest and report", "a user's JSON manifest of another shape",
                                  "a stagekit run directory", "a file", "notes"])
def test_plan_refuses_a_directory_that_is_not_its_own(tmp_path, kind):
    good = _jsonl(tmp_path / "r.jsonl", _rows(16))
    d = tmp_path / "out"
    if kind == "a stagekit run directory":
        from stand_in import StandInFactory

        from stagekit.ladder import make_ladder

        lad = make_ladder(4, levels=[1, 2])
        code, err = _cli("run", "--no-train", "--no-progress", "--ladder-problems", "4", "--ladder-levels", "1,2",
                         "--k", "2", "--out", str(d), "--model", "stand-in", factory=StandInFactory(lad))
        assert code == 0, err
    else:
        d.mkdir()
        if kind == "a user's manifest and report":
            (d / "manifest.json").write_text("my notes, not JSON\n")
            (d / "report.html").write_text("<html>mine</html>")
        elif kind == "a user's JSON manifest of another shape":
            (d / "manifest.json").write_text('{"name": "my dataset", "version": 3}\n')
        elif kind == "a file":
            d.rmdir()
            d.write_text("mine")
        else:
            (d / "notes.txt").write_text("mine")
    before = _tree(tmp_path) if d.is_dir() else {"file": d.read_text()}
    code, err = _cli("plan", str(good), "-o", str(d))
    assert code == 2 and str(d) in err, err
    assert (_tree(tmp_path) if d.is_dir() else {"file": d.read_text()}) == before
    if kind == "a stagekit run directory":
        assert "stagekit run" in err
        # the run directory still resumes: nothing of it was touched
        assert read_manifest(d).command == "run"


def test_plan_problems_with_repeated_ids_is_refused(tmp_path):
    good = _jsonl(tmp_path / "r.jsonl", _rows(16))
    problems = _jsonl(tmp_path / "p.jsonl", [{"problem_id": f"p{i}", "prompt": "q"} for i in (0, 1, 2, 3, 1)])
    code, err = _cli("plan", str(good), "--problems", str(problems), "-o", str(tmp_path / "out"))
    assert code == 2 and str(problems) in err and "'p1'" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ one unit


def test_a_changed_table_is_an_error_naming_its_step_and_plan_again_remakes_it(tmp_path):
    good = _jsonl(tmp_path / "r.jsonl", _rows(40))
    d = tmp_path / "out"
    assert _cli("plan", str(good), "-o", str(d))[0] == 0
    fresh = _tables(d)
    stats = d / "round-0" / "stats.parquet"
    t = pq.read_table(stats)
    pq.write_table(t.slice(0, 3), stats)  # someone's edit
    code, err = _cli("report", str(d))
    assert code == 2 and str(stats) in err and "round-0/plan" in err and "stagekit plan" in err
    # a rollouts part changed: the same
    assert _cli("plan", str(good), "-o", str(d))[0] == 0  # the step's outputs changed: it runs again
    assert _tables(d) == fresh
    assert _cli("report", str(d))[0] == 0
    part = next((d / "round-0" / "rollouts").glob("part-*.parquet"))
    pq.write_table(pq.read_table(part).slice(1), part)
    code, err = _cli("report", str(d))
    assert code == 2 and str(part) in err and "round-0/plan" in err
    (d / "round-0" / "rollouts" / "part-99999.parquet").write_bytes(part.read_bytes())
    assert _cli("plan", str(good), "-o", str(d))[0] == 0
    assert _tables(d) == fresh and not (d / "round-0" / "rollouts" / "part-99999.parquet").exists()


_KILL_AFTER_ROLLOUTS = textwrap.dedent("""
    import os, signal, sys
    import stagekit.runner as runner
    writer = runner.StepContext.writer
    def killed(self, name):
        if name == "stats":  # the new rollouts are in place; the old stats and sets are still there
            os.kill(os.getpid(), signal.SIGKILL)
        return writer(self, name)
    runner.StepContext.writer = killed
    from stagekit.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_killed_plan_on_new_input_never_shows_a_mix(tmp_path):
    """The issue's case: plan A, then plan B killed after B's rollouts were written: the directory holds B's
    rollouts beside A's stats. The report refuses it (no finished plan); plan B again finishes it."""
    a = _jsonl(tmp_path / "a.jsonl", _rows(400))
    b = _jsonl(tmp_path / "b.jsonl", _rows(40, seed=1))
    d = tmp_path / "out"
    assert _cli("plan", str(a), "-o", str(d))[0] == 0
    script = tmp_path / "killed.py"
    script.write_text(_KILL_AFTER_ROLLOUTS)
    p = subprocess.run([sys.executable, str(script), "plan", str(b), "-o", str(d)], env=ENV, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    assert RunDir(d).read_table(0, "rollouts").num_rows == 40 and pq.read_table(d / "round-0" / "stats.parquet").num_rows == 100
    (d / "report.html").unlink()
    code, err = _cli("report", str(d))
    assert code == 2 and "no finished" in err and str(d) in err, err
    assert not (d / "report.html").exists()
    assert _cli("plan", str(b), "-o", str(d))[0] == 0
    fresh = tmp_path / "fresh"
    assert _cli("plan", str(b), "-o", str(fresh))[0] == 0
    assert _tables(d) == _tables(fresh)
    assert _cli("report", str(d))[0] == 0


def test_the_next_run_removes_what_a_killed_one_left(tmp_path):
    good = _jsonl(tmp_path / "r.jsonl", _rows(40))
    d = tmp_path / "out"
    assert _cli("plan", str(good), "-o", str(d))[0] == 0
    fresh = _tables(d)
    left = [d / f".stats.parquet.1a2b3c4d{TEMP_SUFFIX}", d / "round-0" / f".sft.parquet.5e6f7a8b{TEMP_SUFFIX}",
            d / "round-0" / f".rollouts.9c0d1e2f{TEMP_SUFFIX}" / "part-00000.parquet",
            d / "round-0" / f".rollouts.old.33aa44bb{TEMP_SUFFIX}" / "part-00001.parquet",
            d / "round-0" / ".scratch-xyz" / "model" / "weights.bin"]
    for p in left:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * 1000)
    assert _cli("plan", str(good), "-o", str(d))[0] == 0
    assert not RunDir(d).temporaries() and not any(p.exists() for p in left)
    assert _tables(d) == fresh
