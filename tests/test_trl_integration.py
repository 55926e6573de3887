"""The trl integration without a trainer: reward functions called as GRPOTrainer calls them, and the
RolloutRecorder's files (the end-to-end test runs them inside a real GRPOTrainer)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pyarrow as pa
import pytest

import stagekit as sk

COMPLETIONS = [
    [{"role": "assistant", "content": "3 + 4 = 7, so \\boxed{7}"}],
    [{"role": "assistant", "content": "The answer is 8."}],
    [{"role": "assistant", "content": "<think>3+4</think> \\boxed{7}"}],
    [{"role": "assistant", "content": "I do not know"}],
]
PROMPTS = [[{"role": "user", "content": "What is 3+4?"}]] * 4


def call(f, step=0, **cols):
    """Call a reward function the way trl 1.x's GRPOTrainer does."""
    return f(
        prompts=PROMPTS,
        completions=COMPLETIONS,
        completion_ids=[[1, 2]] * 4,
        trainer_state=SimpleNamespace(global_step=step),
        log_extra=lambda *a: None,
        log_metric=lambda *a: None,
        **({"answer": ["7"] * 4, "problem_id": ["p1"] * 4} | cols),
    )


def test_accuracy_and_format_rewards():
    assert call(sk.trl.accuracy_reward) == [1.0, 0.0, 1.0, 0.0]
    assert call(sk.trl.format_reward) == [1.0, 0.0, 1.0, 0.0]
    assert call(sk.trl.FormatReward(think=True, boxed=False)) == [0.0, 0.0, 1.0, 0.0]
    assert call(sk.trl.combine((sk.trl.accuracy_reward, 1.0), (sk.trl.format_reward, 0.5))) == [1.5, 0.0, 1.5, 0.0]
    assert call(sk.trl.AccuracyReward("solution"), solution=["#### 8"] * 4) == [0.0, 1.0, 0.0, 0.0]


def test_accuracy_reward_names_missing_column():
    with pytest.raises(KeyError, match="no 'gold' column.*answer, problem_id"):
        call(sk.trl.AccuracyReward("gold"))


def test_rewards_are_thread_safe():
    expected = call(sk.trl.accuracy_reward)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: call(sk.trl.accuracy_reward), range(64)))
    assert all(r == expected for r in results)


def test_recorder_rows_files_and_groups(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path, chunk_rows=6)
    acc, fmt = rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward])
    for step in range(3):  # each "batch" is a fresh completions list, as trl makes one per step
        global COMPLETIONS
        COMPLETIONS = list(COMPLETIONS)
        call(acc, step=step)
        call(fmt, step=step)
    # Chunks are written as they fill: 12 rows recorded, one full chunk of >= 6 on disk before close.
    assert len(list(tmp_path.glob("part-*.parquet"))) >= 1
    rec.close()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t.num_rows == 12
    assert t["step"].to_pylist() == [0] * 4 + [1] * 4 + [2] * 4
    assert t["correct"].to_pylist() == [True, False, True, False] * 3
    assert t["reward_accuracy"].to_pylist() == [1.0, 0.0, 1.0, 0.0] * 3
    assert t["reward_format_boxed"].to_pylist() == [1.0, 0.0, 1.0, 0.0] * 3
    assert t["prompt"].to_pylist() == ["What is 3+4?"] * 12
    groups = sk.zero_reward_groups(t, by=("problem_id", "step"), include_all_correct=True)
    assert groups.num_rows == 0  # every group is mixed
    assert not list(tmp_path.glob(".*"))


def test_recorder_survives_a_crash_mid_chunk(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path, chunk_rows=4)
    (acc,) = rec.wrap([sk.trl.accuracy_reward])
    call(acc)
    call(acc, step=1)  # closes batch 0: a full chunk of 4 rows is written
    # A killed run leaves at most a hidden temporary file, which readers ignore.
    (tmp_path / ".part-000-000009.parquet.tmp").write_bytes(b"PAR1 truncated")
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t.num_rows == 4 and t["step"].to_pylist() == [0] * 4


def test_recorder_without_problem_ids_hashes_prompts(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path)
    (acc,) = rec.wrap([sk.trl.accuracy_reward])
    acc(prompts=["a", "a", "b", "b"], completions=["\\boxed{1}"] * 4, answer=["1", "1", "2", "2"])
    rec.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    ids = t["problem_id"].to_pylist()
    assert ids[0] == ids[1] != ids[2] == ids[3]
    assert t["step"].to_pylist() == [-1] * 4


def test_recorder_rejects_duplicate_names(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path)
    with pytest.raises(ValueError, match="two reward functions are named 'accuracy'"):
        rec.wrap([sk.trl.accuracy_reward, sk.trl.AccuracyReward()])


def test_dataset_builders_keep_reward_columns():
    datasets = pytest.importorskip("datasets")
    table = pa.table({"problem_id": [1], "prompt": ["2+2?"], "answer": ["4"], "completion": ["4"]})
    g = sk.trl.grpo_dataset(table)
    assert isinstance(g, datasets.Dataset)
    assert g[0]["prompt"] == [{"role": "user", "content": "2+2?"}] and g[0]["answer"] == "4"
    s = sk.trl.sft_dataset(table, format="messages")
    assert s.column_names == ["messages"]


def test_recorder_never_overwrites_a_part(tmp_path):
    for _ in range(3):
        rec = sk.trl.RolloutRecorder(tmp_path)
        (acc,) = rec.wrap([sk.trl.accuracy_reward])
        acc(prompts=["a"], completions=["\\boxed{1}"], answer=["1"], problem_id=["p"])
        rec.flush()
    (tmp_path / "part-000-000000.parquet").unlink()
    rec = sk.trl.RolloutRecorder(tmp_path)
    (acc,) = rec.wrap([sk.trl.accuracy_reward])
    acc(prompts=["b"], completions=["\\boxed{2}"], answer=["2"], problem_id=["q"])
    rec.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert sorted(t["problem_id"].to_pylist()) == ["p", "p", "q"]


def test_accuracy_reward_boxed_only():
    r = sk.trl.AccuracyReward(boxed_only=True)
    assert call(r) == [1.0, 0.0, 1.0, 0.0]
    assert r(completions=["so 46 + 30 = 76", "\\boxed{76}"], answer=["76", "76"]) == [0.0, 1.0]
