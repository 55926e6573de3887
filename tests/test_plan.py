"""`stagekit plan` and `stagekit report` on real rollouts: GSM8K test with four GPT-3 solutions per problem."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stagekit.cli import main

SHARED = Path(os.environ.get("STAGEKIT_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


@pytest.fixture(scope="module")
def gsm8k(tmp_path_factory):
    gen = SHARED / "generations" / "gsm8k_gpt3_example_model_solutions.jsonl"
    test = SHARED / "benchmarks" / "gsm8k_test.openai.jsonl"
    if not gen.is_file() or not test.is_file():
        pytest.skip(f"real data not found under {SHARED}")
    rows = [json.loads(x) for x in gen.open()]
    tests = [json.loads(x) for x in test.open()]
    d = tmp_path_factory.mktemp("gsm8k")
    with (d / "rollouts.jsonl").open("w") as f:
        for i, r in enumerate(rows):
            for s, m in enumerate(MODELS):
                f.write(json.dumps({"problem_id": i, "sample": s, "completion": r[m]["solution"], "answer": tests[i]["answer"]}) + "\n")
    with (d / "problems.jsonl").open("w") as f:
        for i, t in enumerate(tests):
            f.write(json.dumps({"problem_id": i, "prompt": t["question"], "solution": t["answer"]}) + "\n")
    labels = Counter(sum(r[m]["is_correct"] for m in MODELS) for r in rows)
    return d, labels


def test_plan_reproduces_the_brute_force_distribution(gsm8k, tmp_path, capsys):
    d, labels = gsm8k
    out = tmp_path / "run"
    assert main(["plan", str(d / "rollouts.jsonl"), "--problems", str(d / "problems.jsonl"), "-o", str(out)]) == 0
    stats = pq.read_table(out / "round-0" / "stats.parquet")
    assert Counter(stats["n_correct"].to_pylist()) == labels  # stagekit agrees with every GPT-3 label here
    sets = {k: pq.read_table(out / "round-0" / f"{k}.parquet") for k in ("sft", "rl", "drop")}
    assert sets["sft"].num_rows == labels[0] and sets["drop"].num_rows == labels[4]
    assert sets["rl"].num_rows == sum(labels[c] for c in (1, 2, 3))
    assert {"prompt", "solution"} <= set(sets["sft"].column_names)
    m = json.loads((out / "manifest.json").read_text())
    assert m["rounds"][0]["rows"] == {"rollouts": 5276, "stats": 1319, "sft": 432, "rl": 731, "drop": 156}
    assert len(m["inputs"]) == 2 and all(len(h) == 64 for h in m["inputs"].values())
    assert not list(out.rglob(".*tmp"))
    assert "sft 432 (bridge 432)" in capsys.readouterr().out


@pytest.mark.parametrize("keep", [False, True])
def test_plan_paper_scheme(gsm8k, tmp_path, keep, capsys):
    d, labels = gsm8k
    out = tmp_path / "run"
    argv = ["plan", str(d / "rollouts.jsonl"), "-o", str(out), "--scheme", "paper"]
    assert main(argv + (["--keep-all-correct"] if keep else [])) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["config"]["scheme"] == "paper" and m["config"]["keep_all_correct"] is keep
    # hard 0/4 -> Bridge; medium 1/4, 2/4 -> SFT; 3/4 = 0.75 is simple (RL only); all-correct dropped or kept
    assert m["rounds"][0]["rows"]["sft"] == labels[0] + labels[1] + labels[2]
    assert m["rounds"][0]["bridge"] == labels[0]
    assert m["rounds"][0]["rows"]["rl"] == labels[1] + labels[2] + labels[3] + (labels[4] if keep else 0)
    assert m["rounds"][0]["rows"]["drop"] == (0 if keep else labels[4])
    assert "scheme paper" in capsys.readouterr().out


def test_report_is_self_contained(gsm8k, tmp_path):
    d, _ = gsm8k
    out = tmp_path / "run"
    assert main(["plan", str(d / "rollouts.jsonl"), "-o", str(out), "--scheme", "medium_sft"]) == 0
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 3
    # Every image is embedded: no external references.
    assert not re.search(r"""<img|src=["']|href=["']http""", html)
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_text() == html  # rebuilt from the run directory alone


def test_plan_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem_id": 1, "completion": "\\\\boxed{1}", "answer": "1"}\n{not json\n')
    assert main(["plan", str(bad), "-o", str(tmp_path / "r")]) == 2
    assert f"{bad}:2: invalid JSON" in capsys.readouterr().err
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"problem_id": 1, "text": "x", "answer": "1"}\n')
    assert main(["plan", str(missing), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "missing column 'completion'" in err and str(missing) in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["plan", str(empty), "-o", str(tmp_path / "r")]) == 2
    assert f"{empty}: empty file" in capsys.readouterr().err
    assert not (tmp_path / "r" / "manifest.json").exists()
