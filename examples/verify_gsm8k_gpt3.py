"""Verify real GPT-3 solutions to the GSM8K test set and compare with the graders' labels.

    python examples/verify_gsm8k_gpt3.py [path/to/gsm8k_gpt3_example_model_solutions.jsonl]

The file (from openai/grade-school-math, in ../shared/data/generations/) holds 1319 problems, each with a
reference solution ending in ``A: <answer>`` and four model solutions labelled ``is_correct``. The reference
is passed as the gold as it is: stagekit extracts its final answer.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pyarrow as pa

import stagekit as sk

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared/data/generations/gsm8k_gpt3_example_model_solutions.jsonl"
MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def main(path: Path) -> None:
    rows = [json.loads(line) for line in path.open()]
    long = pa.Table.from_pylist(
        [
            {"problem_id": i, "model": m, "completion": r[m]["solution"], "gold": r["ground_truth"], "label": r[m]["is_correct"]}
            for i, r in enumerate(rows)
            for m in MODELS
        ]
    )
    t0 = time.perf_counter()
    verdicts = sk.check_batch(long["completion"], long["gold"])
    dt = time.perf_counter() - t0
    long = long.append_column("correct", verdicts["correct"])
    print(f"{long.num_rows} solutions verified in {dt * 1e3:.0f} ms ({long.num_rows / dt:,.0f}/s)\n")
    print(f"{'model':<20}{'stagekit acc':>14}{'label acc':>12}{'agreement':>12}")
    for m in MODELS:
        sub = long.filter(pa.compute.equal(long["model"], m))
        ours, labels = sub["correct"].to_pylist(), sub["label"].to_pylist()
        agree = sum(a == b for a, b in zip(ours, labels)) / len(ours)
        print(f"{m:<20}{sum(ours) / len(ours):>14.3f}{sum(labels) / len(labels):>12.3f}{agree:>12.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
