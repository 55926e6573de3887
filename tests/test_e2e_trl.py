"""End to end with the real default model (SmolLM2-135M-Instruct) and real trl trainers, on the CPU.

Slow: together about two to three minutes on 2 cores. Nothing is mocked.
"""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import stagekit as sk
from e2e_helpers import arithmetic_problems, gsm8k_train, need_trl

pytestmark = pytest.mark.slow

CPU = {"bf16": False, "use_cpu": True, "report_to": "none", "logging_steps": 1, "save_strategy": "no"}


@pytest.fixture(scope="module")
def model_dir():
    need_trl()
    return sk.default_model()


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def _sft(model_dir, tokenizer, dataset, out, steps=2):
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=2, max_length=256, **CPU)
    trainer = SFTTrainer(model=str(model_dir), args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def test_default_model_is_cached(model_dir):
    assert (model_dir / "config.json").is_file()
    assert sk.default_model() == model_dir  # second call: the cached directory, no conversion


def test_sft_on_real_gsm8k(model_dir, tokenizer, tmp_path):
    rows = gsm8k_train(8)
    table = pa.table({"prompt": [r["question"] for r in rows], "completion": [r["answer"] for r in rows]})
    dataset = sk.trl.sft_dataset(table, format="prompt_completion")
    losses = _sft(model_dir, tokenizer, dataset, tmp_path / "sft")
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses), losses


def test_grpo_recorded_then_cft(model_dir, tokenizer, tmp_path):
    import pyarrow.parquet as pq
    from trl import GRPOConfig, GRPOTrainer

    problems = pa.Table.from_pylist(arithmetic_problems(8))
    held_out = pa.Table.from_pylist(arithmetic_problems(10)[8:])
    dataset = sk.trl.grpo_dataset(problems)
    rec = sk.trl.RolloutRecorder(tmp_path / "rollouts", chunk_rows=8, keep=["solution"])
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        max_steps=2,
        per_device_train_batch_size=4,
        generation_batch_size=8,
        num_generations=4,
        max_completion_length=32,
        beta=0.0,
        temperature=1.0,
        seed=0,
        reward_weights=[1.0, 0.1],
        eval_strategy="steps",
        eval_steps=2,
        per_device_eval_batch_size=4,
        log_completions=True,  # trl's own completions table: its rewards, advantages and our log_extra columns
        **CPU,
    )
    trainer = GRPOTrainer(
        model=str(model_dir),
        reward_funcs=rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward]),
        args=args,
        train_dataset=dataset,
        eval_dataset=sk.trl.grpo_dataset(held_out),
        processing_class=tokenizer,
        callbacks=[rec.callback()],
    )
    trainer.train()
    rollouts = sk.trl.RolloutRecorder.read(tmp_path / "rollouts")
    assert not list((tmp_path / "rollouts").glob(".*.tmp")), "a temporary chunk was left behind"
    assert rollouts.num_rows >= 8 and rollouts.num_rows % 4 == 0
    assert {"step", "mode", "problem_id", "prompt", "completion", "answer", "correct", "reward_accuracy",
            "reward_format_boxed", "reward", "advantage", "solution"} <= set(rollouts.column_names)
    # Training rows and the evaluation at step 2 (held-out problems) are told apart.
    modes = dict(zip(rollouts["problem_id"].to_pylist(), rollouts["mode"].to_pylist(), strict=True))
    assert {modes[p] for p in problems["problem_id"].to_pylist() if p in modes} == {"train"}
    assert {modes[p] for p in held_out["problem_id"].to_pylist()} == {"eval"}
    assert set(rollouts.filter(pc.equal(rollouts["mode"], "eval"))["step"].to_pylist()) == {2}
    # The recorder's `correct` is the verifier's verdict, and the accuracy reward agrees with it.
    again = sk.verify_batch(rollouts["completion"], rollouts["answer"])
    assert again.equals(rollouts["correct"].combine_chunks())
    assert rollouts["reward_accuracy"].to_pylist() == [1.0 if c else 0.0 for c in rollouts["correct"].to_pylist()]
    # Groups of num_generations completions per (problem, step).
    sizes = rollouts.group_by(["problem_id", "step"]).aggregate([("completion", "count")])["completion_count"]
    assert set(sizes.to_pylist()) == {4}
    # Against trl's own completions table: the same per-function rewards, and the recorder's advantage is
    # the one trl trained on; log_extra put the extracted answer and the verdict there.
    logged = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "grpo" / "completions").glob("*.parquet"))])
    assert {"accuracy_predicted", "accuracy_status"} <= set(logged.column_names)
    trl_rows = {}
    for row in logged.to_pylist():
        key = (sk.trl.prompt_text(row["prompt"]), sk.trl.completion_text(row["completion"]))
        trl_rows[key] = (row["accuracy"], row["format_boxed"], row["advantage"], row["accuracy_status"])
    matched = 0
    for row in rollouts.to_pylist():
        got = trl_rows.get((row["prompt"], row["completion"]))
        if got is None:
            continue
        matched += 1
        assert (row["reward_accuracy"], row["reward_format_boxed"]) == (got[0], got[1])
        assert row["advantage"] == pytest.approx(got[2], rel=1e-4, abs=1e-5), (row, got)
        assert got[3] in sk.STATUSES
        assert row["reward"] == pytest.approx(got[0] + 0.1 * got[1])
    assert matched >= 8, f"only {matched} recorded rows found in trl's completions table"
    # keep=["solution"] carried the reference solution of each row's problem.
    refs = {r["problem_id"]: r["solution"] for r in problems.to_pylist() + held_out.to_pylist()}
    assert all(refs[p] == s for p, s in zip(rollouts["problem_id"].to_pylist(), rollouts["solution"].to_pylist(), strict=True))

    # No manual join: the recorded solution reaches the failure groups and the CFT records.
    training = rollouts.filter(pc.equal(rollouts["mode"], "train"))
    groups = sk.zero_reward_groups(training, by=("problem_id", "step"))
    zero = groups.filter(pc.equal(groups["kind"], "all_zero"))
    if zero.num_rows == 0:
        pytest.skip("this run produced no all-zero group (the 135M model solved every sum at least once)")
    assert "solution" in zero.column_names
    cft = sk.cft_records(zero, completion="completions")
    assert cft.num_rows > 0
    assert all(sk.verify(r, a) for r, a in zip(cft["response"].to_pylist(), cft["answer"].to_pylist(), strict=True))
    losses = _sft(model_dir, tokenizer, sk.trl.sft_dataset(cft, completion="response"), tmp_path / "sft_cft", steps=1)
    assert losses and all(math.isfinite(x) for x in losses)


def test_generate_transformers_scores_and_pass_rates(model_dir):
    from stagekit.generate import TransformersGenerator

    problems = pa.Table.from_pylist(arithmetic_problems(4))
    gen = TransformersGenerator(model_dir, batch_size=4)
    kw = {"n": 3, "max_new_tokens": 24, "temperature": 0.8, "seed": 7, "show_progress": False}
    rollouts = sk.generate(problems, gen, **kw)
    assert rollouts.num_rows == 12
    assert rollouts["sample"].to_pylist() == [0, 1, 2] * 4
    assert all(isinstance(c, str) and c for c in rollouts["completion"].to_pylist())
    stats = sk.pass_rates(sk.score(rollouts), k=(1, 3))
    assert stats["n"].to_pylist() == [3] * 4
    # Same seed, same backend: identical completions.
    assert sk.generate(problems, gen, **kw)["completion"].equals(rollouts["completion"])
