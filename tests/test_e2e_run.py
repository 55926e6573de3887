"""`stagekit run --quick` end to end: the real SmolLM2-135M student, real trl trainers, on the CPU.

Slow (a few minutes on 2 cores): one quick run checked output by output, a resumed run that does nothing
again, and a run interrupted with SIGINT during RL that resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from e2e_helpers import need_trl

pytestmark = pytest.mark.slow

ROUND0 = ("rollouts", "stats", "sft", "rl", "drop", "eval_completions", "eval_scores", "sft_set", "rl_set",
          "bridge_rollouts", "bridge", "sft_train", "rl_train", "rl_rollouts", "cft")
FINAL = ("rollouts", "stats", "sft", "rl", "drop", "eval_completions", "eval_scores")
#: A step's "done earlier" line (round steps, and the held-out problems, which belong to no round).
DONE = r"((?:round-\d/)?\w+): done earlier"


def _cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "stagekit", "run", "--quick", "--out", str(out), *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    need_trl()
    out = tmp_path_factory.mktemp("e2e") / "run"
    t0 = time.perf_counter()
    p = subprocess.run(_cmd(out), env=_env(), capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-4000:]
    return out, p, time.perf_counter() - t0


def test_quick_run_writes_every_output_with_consistent_row_counts(quick_run):
    out, p, seconds = quick_run
    m = json.loads((out / "manifest.json").read_text())
    cfg = m["config"]
    n, k = cfg["ladder_problems"], cfg["k"]
    assert _rows(out / "problems.parquet") == n
    for name in ROUND0:
        assert (out / "round-0" / f"{name}.parquet").is_file(), name
    for name in FINAL:
        assert (out / "round-1" / f"{name}.parquet").is_file(), name
    assert (out / "round-0" / "student" / "config.json").is_file()
    assert any((out / "round-0" / "student").glob("*.safetensors"))
    for r in (0, 1):
        d = out / f"round-{r}"
        assert _rows(d / "rollouts.parquet") == n * k
        stats = pq.read_table(d / "stats.parquet")
        assert stats.num_rows == n and set(stats["n"].to_pylist()) == {k}
        assert sum(_rows(d / f"{s}.parquet") for s in ("sft", "rl", "drop")) == n  # zero_partial_full partitions
        # The manifest's counts are the files' counts.
        for name, rows in m["rounds"][r]["rows"].items():
            assert rows == _rows(d / f"{name}.parquet"), (r, name)
    d = out / "round-0"
    sft, rl, bridge = (pq.read_table(d / f"{x}.parquet") for x in ("sft", "rl", "bridge"))
    assert set(bridge["problem_id"].to_pylist()) <= set(sft["problem_id"].to_pylist())
    plain = sft.filter(pc.invert(sft["bridge"])).num_rows
    assert _rows(d / "sft_train.parquet") == plain + bridge.num_rows  # round 0 has no earlier CFT records
    assert _rows(d / "rl_train.parquet") == rl.num_rows
    rl_rollouts = pq.read_table(d / "rl_rollouts.parquet")
    if rl.num_rows:
        prompts = min(cfg["grpo_prompts"], rl.num_rows)
        assert rl_rollouts.num_rows == cfg["grpo_steps"] * prompts * cfg["num_generations"]
        assert set(rl_rollouts["problem_id"].to_pylist()) <= set(rl["problem_id"].to_pylist())
    # CFT: one diagnosis and at most one repair per failed attempt of an all-zero group, all verified.
    cft = pq.read_table(d / "cft.parquet")
    zero = m["rounds"][0]["steps"]["cft"]["zero_groups"]
    kinds = cft["kind"].to_pylist()
    assert kinds.count("diagnosis") == zero * cfg["num_generations"]
    assert kinds.count("repair") <= kinds.count("diagnosis")
    import stagekit as sk

    assert all(sk.verify(r, a) for r, a in zip(cft["response"].to_pylist(), cft["answer"].to_pylist(), strict=True))
    assert m["moved"]["problems"] == n
    assert "moved (the training problems, re-measured): mean pass rate" in p.stdout
    # The held-out evaluation: a ladder draw disjoint by text from the training problems, before and after.
    from stagekit.transforms import normalize_text

    h = m["heldout"]
    held = pq.read_table(out / "heldout.parquet")
    train = {normalize_text(t) for t in pq.read_table(out / "problems.parquet")["prompt"].to_pylist()}
    assert held.num_rows == cfg["eval_problems"] and not {normalize_text(t) for t in held["question"].to_pylist()} & train
    for r in (0, 1):
        scores = pq.read_table(out / f"round-{r}" / "eval_scores.parquet")
        assert scores.num_rows == held.num_rows and set(scores["n"].to_pylist()) == {cfg["eval_k"]}
    assert h["evaluated_rounds"] == [0, 1] and h["change"]["ladder"]["words"] in p.stdout
    assert p.stdout.splitlines()[1].startswith("  held out: ladder")
    assert not list(out.rglob(".*tmp")) and not list(out.rglob(".scratch-*"))
    # The SFT model is an intermediate: removed once the round's student exists.
    assert not (d / "sft-model").exists() or rl.num_rows == 0
    print(f"stagekit run --quick: {seconds:.0f} s")


def test_stage_sets_load_with_datasets(quick_run):
    datasets = pytest.importorskip("datasets")
    out, _, _ = quick_run
    for name in ("sft_train", "rl_train", "bridge", "cft", "sft", "rl"):
        path = out / "round-0" / f"{name}.parquet"
        ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
        assert len(ds) == _rows(path), name
    first = datasets.load_dataset("parquet", data_files=str(out / "round-0" / "sft_train.parquet"), split="train")
    if len(first):
        assert first[0]["prompt"][0]["role"] == "user" and first[0]["completion"][0]["role"] == "assistant"


def test_report_embeds_every_chart_it_names(quick_run):
    out, _, _ = quick_run
    text = (out / "report.html").read_text()
    m = json.loads((out / "manifest.json").read_text())
    # Self-contained: no external images, scripts or stylesheets.
    assert not re.search(r"""<(img|script|link)\b[^>]*(src|href)\s*=""", text, re.I)
    titles = re.findall(r"<svg[^>]*>\s*<title>([^<]+)</title>", text)
    assert len(titles) == text.count("<svg") and text.count("<svg") == text.count("</svg>")
    expected = ["Held-out pass@1 per round", "ladder: held-out pass@1 by ladder level",
                "Mean pass rate of the student, per round", "Pass rate by ladder level, first and last measurement"]
    for r in (0, 1):
        expected += [f"Round {r}: problems by pass rate", f"Round {r}: stage set sizes", f"Round {r}: verdicts of"]
    if _rows(out / "round-0" / "rl_rollouts.parquet"):
        expected += ["Round 0: fraction of zero-reward groups per RL step", "Round 0: mean GRPO reward per step"]
    if m["rounds"][0]["steps"]["sft"].get("losses"):
        expected.append("Round 0: SFT loss per step")
    for title in expected:
        assert any(t.startswith(title) for t in titles), title
    assert "Bridge records" in text and "CFT records" in text


def test_rerun_resumes_without_recomputing(quick_run):
    out, _, _ = quick_run
    before = json.loads((out / "manifest.json").read_text())["steps"]
    student = out / "round-0" / "student"
    mtimes = {f.name: f.stat().st_mtime_ns for f in student.iterdir()}
    p = subprocess.run(_cmd(out), env=_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    skipped = re.findall(DONE, p.stderr)
    assert set(skipped) == set(before), p.stderr[-3000:]
    assert "generate (transformers)" not in p.stderr
    after = json.loads((out / "manifest.json").read_text())["steps"]
    assert {k: v["key"] for k, v in after.items()} == {k: v["key"] for k, v in before.items()}
    assert {f.name: f.stat().st_mtime_ns for f in student.iterdir()} == mtimes


def test_interrupted_during_rl_leaves_no_partial_output_and_resumes(tmp_path):
    need_trl()
    out = tmp_path / "run"
    proc = subprocess.Popen(_cmd(out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 900
    manifest = out / "manifest.json"
    while time.time() < deadline:  # wait for SFT to finish: RL is then running
        if manifest.is_file() and "round-0/sft" in json.loads(manifest.read_text()).get("steps", {}):
            break
        if proc.poll() is not None:
            pytest.fail(f"the run ended before RL: {proc.stderr.read()[-3000:]}")
        time.sleep(0.5)
    time.sleep(5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert "re-run the same command to resume" in err
    steps = json.loads(manifest.read_text())["steps"]
    assert "round-0/rl" not in steps and "round-0/sft" in steps
    assert not (out / "round-0" / "student").exists()
    assert not list(out.rglob(".*tmp")) and not list(out.rglob(".scratch-*"))

    p = subprocess.run(_cmd(out), env=_env(), capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    skipped = set(re.findall(DONE, p.stderr))
    assert {"heldout", "round-0/measure", "round-0/plan", "round-0/evaluate", "round-0/bridge", "round-0/sft_data",
            "round-0/sft"} <= skipped
    assert (out / "round-0" / "student").is_dir() and (out / "round-1" / "stats.parquet").is_file()


def test_kill_9_of_a_real_quick_no_train_run_resumes_to_the_same_results(quick_run, tmp_path):
    """kill -9 of `stagekit run --quick --no-train` with the real model once round 0's measurement is done
    (so during plan or the Bridge, at a random moment): no partial file, and the resumed run's round-0
    tables and step keys equal the uninterrupted quick run's (`--no-train` changes which steps exist, not
    what round 0's steps compute)."""
    import random

    from test_kill import check_directory

    ref, _, _ = quick_run
    out = tmp_path / "run"
    proc = subprocess.Popen(_cmd(out, "--no-train"), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    manifest = out / "manifest.json"
    deadline = time.time() + 900
    while time.time() < deadline:
        if manifest.is_file() and "round-0/measure" in json.loads(manifest.read_text()).get("steps", {}):
            break
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it was killed: {proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    time.sleep(random.Random(3).uniform(0, 5))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert check_directory(out) >= 1
    p = subprocess.run(_cmd(out, "--no-train"), env=_env(), capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "round-0/measure: done earlier" in p.stderr
    check_directory(out)
    a, b = json.loads(manifest.read_text())["steps"], json.loads((ref / "manifest.json").read_text())["steps"]
    for name in ("measure", "plan", "stages", "bridge", "sft_data"):
        assert a[f"round-0/{name}"]["key"] == b[f"round-0/{name}"]["key"], name
    for name in ("rollouts", "stats", "sft", "rl", "drop", "sft_set", "rl_set", "bridge_rollouts", "bridge", "sft_train"):
        assert pq.read_table(out / "round-0" / f"{name}.parquet").equals(pq.read_table(ref / "round-0" / f"{name}.parquet")), name
    assert not list(out.rglob(".*tmp")) and not list(out.rglob(".scratch-*"))
