"""``kill -9`` at random points of ``stagekit run --quick --no-train`` and of ``stagekit plan``, several times
on one directory: after every kill no visible file is partial or corrupt and every step the manifest records
has exactly the outputs it recorded (sha256); the run that finally finishes equals an uninterrupted one,
and leaves no temporary file. ``run`` uses the stand-in generator (``tests/stand_in.py``, the command's own
code path); the real model's variant is in ``tests/test_e2e_run.py`` (slow)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stagekit.io import TEMP_SUFFIX
from stagekit.rundir import RunDir, read_manifest

TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
    [str(TESTS.parent / "python"), str(TESTS), os.environ.get("PYTHONPATH", "")])}


def _visible(d: Path) -> list[Path]:
    return [p for p in d.rglob("*") if p.is_file() and not any(x.startswith(".") for x in p.relative_to(d).parts)]


def check_directory(d: Path) -> int:
    """No partial or corrupt visible file; every recorded output as recorded. Returns the steps recorded."""
    if not d.exists():
        return 0
    for p in _visible(d):
        if p.suffix == ".parquet":
            pq.read_table(p)  # raises on a partial or corrupt file
        elif p.name == "manifest.json":
            json.loads(p.read_text())
        elif p.name == "report.html":
            assert p.read_text().rstrip().endswith("</html>"), p
    hidden = [p for p in d.rglob(".*") if p.name != "." and not p.name.startswith(".scratch-")]
    assert all(p.name.endswith(TEMP_SUFFIX) for p in hidden), hidden  # only the writers' own temporaries
    if not (d / "manifest.json").is_file():
        assert not _visible(d), "files written before the manifest"
        return 0
    m = read_manifest(d)
    run = RunDir(d)
    for name, rec in m.steps.items():
        for out in rec.written.values():
            run.verify(out, name)
    return len(m.steps)


def _kill_at(cmd: list[str], d: Path, new_files: int, extra: float) -> bool:
    """Start ``cmd``; once it has written ``new_files`` visible files (after it started) and ``extra``
    seconds more, SIGKILL it. Returns whether it was killed (False: it finished first)."""
    start = time.time()
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None:
            written = [p for p in _visible(d) if p.stat().st_mtime >= start] if d.exists() else []
            if len(written) >= new_files:
                time.sleep(extra)
                break
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            return True
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _tables(d: Path) -> dict[str, object]:
    return {p.relative_to(d).as_posix(): pq.read_table(p) for p in _visible(d) if p.suffix == ".parquet"}


def _same_results(a: Path, b: Path) -> None:
    ma, mb = read_manifest(a), read_manifest(b)
    assert {k: v.key for k, v in ma.steps.items()} == {k: v.key for k, v in mb.steps.items()}
    assert [r.to_json() | {"steps": None} for r in ma.rounds] == [r.to_json() | {"steps": None} for r in mb.rounds]
    assert ma.moved == mb.moved
    ta, tb = _tables(a), _tables(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert ta[k].equals(tb[k]), k
    assert not RunDir(a).temporaries()


def _kills(cmd: list[str], d: Path, ref: Path, *, n: int, files: int, seed: int) -> list[int]:
    """``n`` kills on directory ``d``, each once the command has written a random number (1 to ``files``)
    of files and up to 30 ms more, each resuming what the last one left; a command that finishes before its
    kill starts the directory afresh. Then the command once more, uninterrupted: its results must equal the
    reference directory's. Returns the number of steps recorded at each kill (-1: finished first)."""
    rng = random.Random(seed)
    recorded = []
    for _ in range(n):
        killed = _kill_at(cmd, d, rng.randint(1, files), rng.uniform(0, 0.03))
        recorded.append(check_directory(d) if killed else -1)
        if not killed:
            shutil.rmtree(d)
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    check_directory(d)
    _same_results(d, ref)
    return recorded


def test_kill_9_during_run_quick_no_train(tmp_path):
    def cmd(out: Path) -> list[str]:
        return [sys.executable, str(TESTS / "stand_in.py"), "run", "--quick", "--no-train", "--no-progress",
                "--out", str(out)]

    ref = tmp_path / "ref"
    p = subprocess.run(cmd(ref), env=ENV, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    recorded = _kills(cmd(tmp_path / "run"), tmp_path / "run", ref, n=6, files=9, seed=11)
    # the kills landed at different points: before or between steps (0 .. all recorded)
    assert sum(r >= 0 for r in recorded) >= 3 and len({r for r in recorded if r >= 0}) >= 2, recorded


@pytest.fixture(scope="module")
def rollouts(tmp_path_factory):
    """Real rollouts (GSM8K test x 4 GPT-3 solutions, as in test_plan) repeated to make writes take a while."""
    from e2e_helpers import SHARED

    gen = SHARED / "generations" / "gsm8k_gpt3_example_model_solutions.jsonl"
    test = SHARED / "benchmarks" / "gsm8k_test.openai.jsonl"
    if not gen.is_file() or not test.is_file():
        pytest.skip(f"real data not found under {SHARED}")
    import pyarrow as pa

    rows, tests = [json.loads(x) for x in gen.open()], [json.loads(x) for x in test.open()]
    models = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
    recs = [{"problem_id": i, "sample": s, "completion": r[m]["solution"], "answer": tests[i]["answer"]}
            for i, r in enumerate(rows) for s, m in enumerate(models)]
    path = tmp_path_factory.mktemp("plan") / "rollouts.parquet"
    pq.write_table(pa.Table.from_pylist(recs), path)
    return path


def test_kill_9_during_plan(tmp_path, rollouts):
    def cmd(out: Path) -> list[str]:
        # in batches: a kill lands between batches of the rollouts' parts as well as between tables
        return [sys.executable, "-m", "stagekit", "plan", str(rollouts), "-o", str(out), "--scheme", "medium_sft",
                "--batch-rows", "2500"]

    ref = tmp_path / "ref"
    p = subprocess.run(cmd(ref), env=ENV, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    recorded = _kills(cmd(tmp_path / "run"), tmp_path / "run", ref, n=6, files=6, seed=5)
    assert sum(r >= 0 for r in recorded) >= 3, recorded
