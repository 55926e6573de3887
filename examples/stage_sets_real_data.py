"""From real rollouts to stage sets: GSM8K with four GPT-3 solutions per problem, and MATH with eight Qwen
samples per problem (../shared/data/generations/).

    python examples/stage_sets_real_data.py

score -> pass_rates -> bin_difficulty -> split_stages under every named scheme, then CFT records for the
GSM8K problems no solution solved, with GSM8K's reference solutions as the teacher.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import stagekit as sk

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def gsm8k_rollouts() -> tuple[pa.Table, pa.Table]:
    rows = [json.loads(x) for x in (DATA / "generations/gsm8k_gpt3_example_model_solutions.jsonl").open()]
    test = [json.loads(x) for x in (DATA / "benchmarks/gsm8k_test.openai.jsonl").open()]
    problems = pa.table(
        {
            "problem_id": list(range(len(test))),
            "prompt": [t["question"] for t in test],
            "answer": [t["answer"] for t in test],  # the reference solution; its `#### N` is the gold
            "solution": [t["answer"] for t in test],
        }
    )
    rollouts = pa.Table.from_pylist(
        [
            {"problem_id": i, "sample": s, "completion": r[m]["solution"], "answer": test[i]["answer"]}
            for i, r in enumerate(rows)
            for s, m in enumerate(MODELS)
        ]
    )
    return problems, rollouts


def math_rollouts() -> pa.Table:
    rows = [json.loads(x) for x in (DATA / "generations/qwen25math_math_cot_100_8samples.jsonl").open()]
    return pa.Table.from_pylist(
        [
            {"problem_id": r["idx"], "sample": s, "completion": c, "answer": r["solution"]}
            for r in rows
            for s, c in enumerate(r["code"])
        ]
    )


def histogram(stats: pa.Table, n: int) -> str:
    counts = Counter(stats["n_correct"].to_pylist())
    return "  ".join(f"{c}/{n}: {counts.get(c, 0)}" for c in range(n + 1))


def show(name: str, rollouts: pa.Table, n: int) -> pa.Table:
    scored = sk.score(rollouts)
    stats = sk.pass_rates(scored, k=(1, n))
    print(f"\n== {name}: {rollouts.num_rows} rollouts, {stats.num_rows} problems")
    print(f"   problems by correct samples   {histogram(stats, n)}")
    for scheme in sk.SCHEMES:
        sets = sk.split_stages(sk.bin_difficulty(stats, scheme=scheme))
        bridge = sum(sets["sft"]["bridge"].to_pylist())
        print(
            f"   {scheme:<18} sft {sets['sft'].num_rows:>5} (bridge {bridge:>4})   "
            f"rl {sets['rl'].num_rows:>5}   drop {sets['drop'].num_rows:>5}"
        )
    return stats


def main() -> None:
    problems, gsm = gsm8k_rollouts()
    stats = show("GSM8K test x 4 GPT-3 solutions", gsm, 4)
    show("MATH x 8 Qwen2.5-Math samples", math_rollouts(), 8)

    # CFT records for the GSM8K problems that no solution solved.
    zero = stats.filter(pc.equal(stats["n_correct"], 0))["problem_id"]
    failed = gsm.filter(pc.is_in(gsm["problem_id"], zero))
    failed = failed.join(problems.select(["problem_id", "prompt", "solution"]), "problem_id")
    records = sk.cft_records(failed)
    diagnoses = records.filter(pc.equal(records["kind"], "diagnosis"))
    located = diagnoses.filter(pc.is_valid(diagnoses["error_step"]))
    print(f"\n== CFT records from {failed.num_rows} failed attempts on {len(zero)} all-zero GSM8K problems")
    print(f"   {dict(Counter(records['kind'].to_pylist()))}")
    print(f"   the step checker located a false arithmetic claim in {located.num_rows} attempts")
    if located.num_rows:
        r = located.slice(0, 1).to_pylist()[0]
        print("\n   example diagnosis\n   attempt:  " + r["attempt"].replace("\n", "\n             "))
        print("   response: " + r["response"].replace("\n", "\n             "))

if __name__ == "__main__":
    main()
