"""The trl integration without a trainer: reward functions called as GRPOTrainer calls them — by hand and
through the installed trl's own `GRPOTrainer._calculate_rewards` — and the RolloutRecorder's rows and files
(the end-to-end test runs them inside a real GRPOTrainer)."""

from __future__ import annotations

import asyncio
import functools
import math
import os
import pydoc
import random
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stagekit as sk

COMPLETIONS = [
    [{"role": "assistant", "content": "3 + 4 = 7, so \\boxed{7}"}],
    [{"role": "assistant", "content": "The answer is 8."}],
    [{"role": "assistant", "content": "<think>3+4</think> \\boxed{7}"}],
    [{"role": "assistant", "content": "I do not know"}],
]
PROMPTS = [[{"role": "user", "content": "What is 3+4?"}]] * 4


def call(f, step=0, completions=None, **cols):
    """Call a reward function the way trl 1.x's GRPOTrainer does."""
    return f(
        prompts=PROMPTS,
        completions=list(COMPLETIONS if completions is None else completions),
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


@pytest.mark.parametrize(
    "f",
    [sk.trl.accuracy_reward, sk.trl.format_reward, sk.trl.AccuracyReward("solution"), sk.trl.FormatReward(think=True),
     sk.trl.combine((sk.trl.accuracy_reward, 1.0))],
    ids=["accuracy_reward", "format_reward", "AccuracyReward", "FormatReward", "combine"],
)
def test_reward_functions_refuse_positional_arguments(f, tmp_path):
    # accuracy_reward(completions, golds) would bind the completions to `prompts`: it must fail loudly.
    with pytest.raises(TypeError, match="positional argument"):
        f(["\\boxed{7}"], ["7"])
    (wrapped,) = sk.trl.RolloutRecorder(tmp_path).wrap([f])
    with pytest.raises(TypeError, match="positional argument"):
        wrapped(["\\boxed{7}"], ["7"])


def test_help_shows_the_function_not_a_class():
    for f in (sk.trl.format_reward, sk.trl.accuracy_reward):
        doc = pydoc.render_doc(f, renderer=pydoc.plaintext)
        assert "function" in doc.splitlines()[0] and " object" not in doc.splitlines()[0], doc[:200]
        assert "class " not in doc and "__call__" not in doc and "__init__" not in doc
        assert "completions" in doc and "Keyword arguments only" in doc


def test_rows_without_gold_are_skipped_not_penalised():
    r = sk.trl.accuracy_reward(completions=["\\boxed{7}", "\\boxed{7}", "\\boxed{7}", "\\boxed{7}", "\\boxed{8}"],
                               answer=["7", None, "", "  ", "7"])
    assert r == [1.0, None, None, None, 0.0]
    assert sk.trl.AccuracyReward(boxed_only=True)(completions=["7", "\\boxed{7}"], answer=[None, "7"]) == [None, 1.0]
    # combine as trl: None parts are left out of the sum; None only when every part is None.
    both = sk.trl.combine((sk.trl.accuracy_reward, 1.0), (sk.trl.format_reward, 0.1))
    assert both(completions=["\\boxed{7}", "7", "\\boxed{7}"], answer=[None, None, "7"]) == [0.1, 0.0, 1.1]
    only = sk.trl.combine((sk.trl.accuracy_reward, 2.0), (lambda **kw: [float("nan")] * 2, 1.0))
    assert only(completions=["\\boxed{7}", "x"], answer=[None, "7"]) == [None, 0.0]


def test_rewards_are_thread_safe():
    expected = call(sk.trl.accuracy_reward)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: call(sk.trl.accuracy_reward), range(64)))
    assert all(r == expected for r in results)


def test_log_extra_gets_the_extracted_answer_and_status():
    logged = {}
    r = sk.trl.accuracy_reward(
        completions=["so \\boxed{7}", "\\boxed{8}", "<think>\\boxed{7}", "no idea", "\\boxed{7}"],
        answer=["7", "7", "7", "7", None],
        log_extra=lambda col, vals: logged.setdefault(col, []).extend(vals),
    )
    assert r == [1.0, 0.0, 0.0, 0.0, None]
    assert logged == {
        "accuracy_predicted": ["7", "8", None, None, "7"],
        "accuracy_status": ["correct", "incorrect", "no_answer", "no_answer", None],
    }


# ---------------------------------------------------------------------------------------- <think> policy


def test_think_policy_examples():
    golds = ["4"] * 6
    texts = [
        "<think>maybe \\boxed{4}</think> The answer is 5",  # trl's accuracy_reward says 1.0; the thought is not the answer
        "<think>maybe \\boxed{4}",  # truncated reasoning: no answer
        "<think>a</think> fine \\boxed{4} <think>more \\boxed{4}",  # a block reopened and cut off: no answer
        "reasoning from the template's <think> \\boxed{5}</think> so \\boxed{4}",
        "<think>x</think><think>y</think> \\boxed{4}",
        "\\boxed{4}",
    ]
    assert sk.trl.accuracy_reward(completions=texts, answer=golds) == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert sk.trl.format_reward(completions=texts) == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


_ANSWERS = st.integers(-50, 50)


@st.composite
def think_cases(draw):
    """A completion built from reasoning blocks, closed or not, and an optional final answer, with the
    expected reward under the policy: the answer is what follows the last `</think>`; an open `<think>`
    there is no answer. Near misses: the gold boxed inside a thought, a wrong final answer after it."""
    gold = draw(_ANSWERS)
    other = draw(_ANSWERS.filter(lambda x: x != gold))
    parts, expect = [], 0.0
    if draw(st.booleans()):  # the opening tag came with the prompt
        parts.append(f"hmm \\boxed{{{draw(st.sampled_from([gold, other]))}}}</think>")
    for _ in range(draw(st.integers(0, 2))):
        parts.append(f"<think>try \\boxed{{{draw(st.sampled_from([gold, other]))}}} then</think>")
    final = draw(st.sampled_from(["gold", "other", "none"]))
    if final != "none":
        value = gold if final == "gold" else other
        parts.append(draw(st.sampled_from([f"so \\boxed{{{value}}}", f"The answer is {value}.", f"#### {value}"])))
        expect = 1.0 if final == "gold" else 0.0
    if draw(st.booleans()):  # a reasoning block opened again and cut off at the length limit
        parts.append(f"<think>wait, maybe \\boxed{{{gold}}}")
        expect = 0.0
    return " ".join(parts), str(gold), expect


@settings(max_examples=300, deadline=None, derandomize=True)
@given(think_cases())
def test_think_policy_generated(case):
    text, gold, expect = case
    assert sk.trl.accuracy_reward(completions=[text], answer=[gold]) == [expect], text
    tail = sk.trl.answer_text(text)
    if tail is None:
        assert sk.trl.format_reward(completions=[text]) == [0.0]


# ------------------------------------------------------------------------------------------- the recorder


def test_recorder_rows_files_and_groups(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path, chunk_rows=6)
    acc, fmt = rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward])
    same = list(COMPLETIONS)  # batches are keyed by step and call order, not by the identity of trl's list
    for step in range(3):
        call(acc, step=step, completions=same)
        call(fmt, step=step, completions=same)
    # A batch is written as soon as every reward function has seen it: 12 rows, two parts of 8 and 4.
    assert len(list(tmp_path.glob("part-*.parquet"))) == 1
    rec.close()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t.num_rows == 12
    assert t.column_names[:7] == ["step", "mode", "problem_id", "prompt", "completion", "answer", "correct"]
    assert t["step"].to_pylist() == [0] * 4 + [1] * 4 + [2] * 4
    assert t["correct"].to_pylist() == [True, False, True, False] * 3
    assert t["reward_accuracy"].to_pylist() == [1.0, 0.0, 1.0, 0.0] * 3
    assert t["reward_format_boxed"].to_pylist() == [1.0, 0.0, 1.0, 0.0] * 3
    assert t["reward"].to_pylist() == [2.0, 0.0, 2.0, 0.0] * 3  # weights 1.0 without a trainer
    assert t["prompt"].to_pylist() == ["What is 3+4?"] * 12
    assert t["mode"].null_count == 12  # no trainer model attached: the mode is unknown
    groups = sk.zero_reward_groups(t, by=("problem_id", "step"), include_all_correct=True)
    assert groups.num_rows == 0  # every group is mixed
    assert not list(tmp_path.glob(".*"))


def test_recorder_total_reward_and_advantage(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path, reward_weights=[1.0, 0.1], num_generations=2)
    acc, fmt = rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward])
    comps = ["\\boxed{7}", "8", "\\boxed{3}", "\\boxed{3}"]
    kw = {"prompts": ["a", "a", "b", "b"], "completions": comps, "answer": ["7", "7", "3", None]}
    acc(**kw)
    fmt(**kw)
    rec.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t["reward_accuracy"].to_pylist() == [1.0, 0.0, 1.0, None]
    assert t["correct"].to_pylist() == [True, False, True, None]  # no gold: not judged
    assert t["reward"].to_pylist() == pytest.approx([1.1, 0.0, 1.1, 0.1])
    a = 1.1 / 2 / (math.sqrt(2 * (1.1 / 2) ** 2) + 1e-4)
    b = 1.0 / 2 / (math.sqrt(2 * 0.5**2) + 1e-4)
    assert t["advantage"].to_pylist() == pytest.approx([a, -a, b, -b])


def test_recorder_mode_from_the_model_and_eval_kept_apart(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path)
    model = SimpleNamespace(training=True)
    rec.attach(SimpleNamespace(reward_weights=None, num_generations=4, scale_rewards="group"), model)
    acc, fmt = rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward])
    call(acc, step=5)
    model.training = False  # trl evaluates at the same global step, on the same prompts
    call(acc, step=5)
    call(fmt, step=5)
    model.training = True
    call(fmt, step=5)
    rec.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t.num_rows == 8
    assert sorted(t["mode"].to_pylist()) == ["eval"] * 4 + ["train"] * 4
    assert t["reward_format_boxed"].null_count == 0 and t["reward_accuracy"].null_count == 0


def test_recorder_keeps_problem_id_type_and_keep_columns(tmp_path):
    problems = pa.table({"problem_id": [10, 11], "solution": ["3+4 = 7. #### 7", "#### 9"], "level": [1, 2]})
    rec = sk.trl.RolloutRecorder(tmp_path, keep=["solution"])
    (acc,) = rec.wrap([sk.trl.accuracy_reward])
    acc(prompts=["q10", "q11"], completions=["\\boxed{7}", "\\boxed{8}"], answer=["7", "9"], problem_id=[10, 11],
        solution=problems["solution"].to_pylist())
    rec.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t.schema.field("problem_id").type == pa.int64()
    assert t["solution"].to_pylist() == problems["solution"].to_pylist()
    joined = t.join(problems.select(["problem_id", "level"]), "problem_id").sort_by("problem_id")
    assert joined["level"].to_pylist() == [1, 2]
    with pytest.raises(KeyError, match="keep column 'reference' is not in the dataset.*answer, problem_id"):
        rec2 = sk.trl.RolloutRecorder(tmp_path / "x", keep=["reference"])
        rec2.wrap([sk.trl.accuracy_reward])[0](completions=["1"], answer=["1"], problem_id=[1])
    with pytest.raises(ValueError, match="overwrite the recorder's own columns"):
        sk.trl.RolloutRecorder(tmp_path, keep=["reward"])


def _thread_batches(tid, batches, same_content):
    """The reward calls of one thread: per batch, every function once, on that batch's rows."""
    out = []
    for b in range(batches):
        key = 0 if same_content else tid * 1000 + b
        comps = [f"\\boxed{{{key % 7}}}", f"\\boxed{{{(key + 1) % 7}}}", "no", f"{key % 7}"]
        out.append({"prompts": [f"q{key}"] * 4, "completions": comps, "answer": [str(key % 7)] * 4,
                    "problem_id": [f"p{key}"] * 4, "trainer_state": SimpleNamespace(global_step=b % 3)})
    return out


@pytest.mark.parametrize("same_content", [False, True], ids=["distinct batches", "identical batches"])
def test_recorder_is_thread_safe(tmp_path, same_content):
    rec = sk.trl.RolloutRecorder(tmp_path, chunk_rows=37)
    acc, fmt = rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward])
    barrier = threading.Barrier(4)

    def worker(tid):
        barrier.wait()
        rng = random.Random(tid)
        for kw in _thread_batches(tid, 50, same_content):
            first, second = (acc, fmt) if rng.random() < 0.5 else (fmt, acc)
            first(**kw)
            second(**kw)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(worker, range(4)))
    rec.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t.num_rows == 4 * 50 * 4
    assert t["reward_accuracy"].null_count == 0 and t["reward_format_boxed"].null_count == 0
    expected = sorted(
        (kw["problem_id"][i], kw["trainer_state"].global_step, kw["completions"][i],
         sk.trl.accuracy_reward(**kw)[i], sk.trl.format_reward(**kw)[i])
        for tid in range(4) for kw in _thread_batches(tid, 50, same_content) for i in range(4)
    )
    got = sorted(zip(t["problem_id"].to_pylist(), t["step"].to_pylist(), t["completion"].to_pylist(),
                     t["reward_accuracy"].to_pylist(), t["reward_format_boxed"].to_pylist(), strict=True))
    assert got == expected


def test_recorder_wraps_async_reward_functions(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path)

    async def judge(*, prompts=None, completions, **kw):
        await asyncio.sleep(0)
        return [0.5 for _ in completions]

    acc, aj = rec.wrap([sk.trl.accuracy_reward, judge])
    assert asyncio.iscoroutinefunction(aj) and aj.__name__ == "judge"
    kw = {"prompts": ["a", "a"], "completions": ["\\boxed{1}", "2"], "answer": ["1", "1"]}
    acc(**kw)
    assert asyncio.run(aj(**kw)) == [0.5, 0.5]
    rec.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t["reward_judge"].to_pylist() == [0.5, 0.5] and t["reward_accuracy"].to_pylist() == [1.0, 0.0]


def test_recorder_survives_a_crash_mid_chunk(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path, chunk_rows=4)
    (acc,) = rec.wrap([sk.trl.accuracy_reward])
    call(acc)
    # A killed run leaves at most a hidden temporary file, which readers ignore.
    (tmp_path / ".part-000-000009.parquet.1234.tmp").write_bytes(b"PAR1 truncated")
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t.num_rows == 4 and t["step"].to_pylist() == [0] * 4


def test_recorder_write_failure_leaves_no_temporary_file(tmp_path, monkeypatch):
    rec = sk.trl.RolloutRecorder(tmp_path, chunk_rows=1)
    (acc,) = rec.wrap([sk.trl.accuracy_reward])

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        acc(completions=["1"], answer=["1"])
    assert list(tmp_path.iterdir()) == []


def test_recorder_parts_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        rec = sk.trl.RolloutRecorder(tmp_path)
        rec.wrap([sk.trl.accuracy_reward])[0](completions=["1"], answer=["1"])
        rec.flush()
    finally:
        os.umask(old)
    (part,) = tmp_path.glob("part-*.parquet")
    assert part.stat().st_mode & 0o777 == 0o644


def test_recorder_without_problem_ids_hashes_prompts(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path)
    (acc,) = rec.wrap([sk.trl.accuracy_reward])
    acc(prompts=["a", "a", "b", "b"], completions=["\\boxed{1}"] * 4, answer=["1", "1", "2", "2"])
    rec.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    ids = t["problem_id"].to_pylist()
    assert ids[0] == ids[1] != ids[2] == ids[3]
    assert t["step"].to_pylist() == [-1] * 4
    # Without a trainer, groups are the runs of equal ids: two groups of two.
    assert t["advantage"].to_pylist() == pytest.approx([0.0, 0.0, 0.0, 0.0]) and t["reward"].to_pylist() == [1.0, 1.0, 0.0, 0.0]


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


def _record(path, ids, funcs=(sk.trl.accuracy_reward,)):
    rec = sk.trl.RolloutRecorder(path)
    wrapped = rec.wrap(list(funcs))
    for f in wrapped:
        f(prompts=[f"q{i}" for i in ids], completions=["\\boxed{1}"] * len(ids), answer=["1"] * len(ids), problem_id=ids)
    return rec


def test_recorder_never_overwrites_a_part(tmp_path):
    for i in range(3):
        _record(tmp_path, [f"p{i}"]).flush()
    first = sorted(tmp_path.glob("part-*.parquet"))[0]
    first.unlink()
    _record(tmp_path, ["q"]).flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert sorted(t["problem_id"].to_pylist()) == ["p1", "p2", "q"]


def test_two_recorders_on_one_path_with_the_same_rank_keep_all_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    a, b = sk.trl.RolloutRecorder(tmp_path, chunk_rows=1), sk.trl.RolloutRecorder(tmp_path, chunk_rows=1)
    fa, fb = a.wrap([sk.trl.accuracy_reward])[0], b.wrap([sk.trl.accuracy_reward])[0]
    for i in range(6):
        fa(completions=["\\boxed{1}"], answer=["1"], problem_id=[f"a{i}"])
        fb(completions=["\\boxed{1}"], answer=["1"], problem_id=[f"b{i}"])
    a.flush()
    b.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert sorted(t["problem_id"].to_pylist()) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)])
    assert len(list(tmp_path.glob("part-*.parquet"))) == 12
    assert a.writer != b.writer


def test_read_unifies_the_parts_schemas(tmp_path):
    # An old-format part (before `mode`, `reward`, `advantage`), then a restart that adds a reward function.
    pq.write_table(pa.table({"step": [0], "problem_id": ["old"], "prompt": ["q"], "completion": ["1"], "answer": ["1"],
                             "correct": [True], "reward_accuracy": [1.0]}), tmp_path / "part-000-000000.parquet")
    _record(tmp_path, ["p1"]).flush()
    _record(tmp_path, ["p2"], funcs=(sk.trl.accuracy_reward, sk.trl.format_reward)).flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t["problem_id"].to_pylist() == ["old", "p1", "p2"]
    assert t["reward_format_boxed"].to_pylist() == [None, None, 1.0]
    assert t["mode"].to_pylist() == [None, None, None] and t["reward"].to_pylist() == [None, 1.0, 2.0]


def test_accuracy_reward_boxed_only():
    r = sk.trl.AccuracyReward(boxed_only=True)
    assert call(r) == [1.0, 0.0, 1.0, 0.0]
    assert r(completions=["so 46 + 30 = 76", "\\boxed{76}"], answer=["76", "76"]) == [0.0, 1.0]


# ------------------------------------------------------------------- against trl's own reward-calling code


def _trl_calculate_rewards(reward_funcs, rows, *, step=0, weights=None):
    """Run the installed trl's ``GRPOTrainer._calculate_rewards`` on ``rows`` (dataset rows with a
    ``completion``), with the few trainer attributes it reads; returns its rewards tensor and the trainer
    stand-in (``_pending_extra_logs`` holds what ``log_extra`` received)."""
    torch = pytest.importorskip("torch")
    grpo = pytest.importorskip("trl.trainer.grpo_trainer")
    from transformers import TrainerState

    state = TrainerState()
    state.global_step = step
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = SimpleNamespace(
        state=state,
        args=SimpleNamespace(report_to=[]),
        accelerator=SimpleNamespace(device=torch.device("cpu"), is_main_process=True, process_index=0),
        reward_funcs=list(reward_funcs),
        reward_processing_classes=[None] * len(reward_funcs),
        reward_func_names=[f.__name__ for f in reward_funcs],
        environments=None,
        async_loop=loop,
        _pending_extra_logs=defaultdict(list),
        _pending_metrics=defaultdict(list),
    )
    fake._log_completion_extra = functools.partial(grpo.GRPOTrainer._log_completion_extra, fake)
    fake._log_metric = functools.partial(grpo.GRPOTrainer._log_metric, fake)
    prompts = [r["prompt"] for r in rows]
    completions = [r["completion"] for r in rows]
    inputs = [dict(r) for r in rows]
    try:
        out = grpo.GRPOTrainer._calculate_rewards(fake, inputs, prompts, completions, [[1, 2]] * len(rows))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
    return out, fake


def _rows(step_answers):
    return [
        {"prompt": [{"role": "user", "content": f"q{i // 2}"}], "completion": [{"role": "assistant", "content": c}],
         "answer": a, "problem_id": i // 2, "solution": f"ref {i // 2}"}
        for i, (c, a) in enumerate(step_answers)
    ]


ROWS = _rows([("\\boxed{7}", "7"), ("<think>\\boxed{7}</think> 8", "7"), ("\\boxed{1}", None), ("1", None),
              ("<think>\\boxed{3}", "3"), ("\\boxed{3}", "3")])


@pytest.mark.slow  # imports torch and trl (~10 s)
def test_trl_calls_our_reward_functions_and_logs_their_columns():
    import torch

    funcs = [sk.trl.accuracy_reward, sk.trl.format_reward]
    out, fake = _trl_calculate_rewards(funcs, ROWS)
    acc, fmt = out[:, 0].tolist(), out[:, 1].tolist()
    assert acc[:2] == [1.0, 0.0] and math.isnan(acc[2]) and math.isnan(acc[3]) and acc[4:] == [0.0, 1.0]
    assert fmt == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert dict(fake._pending_extra_logs) == {
        "accuracy_predicted": ["7", "8", "1", "1", None, "3"],
        "accuracy_status": ["correct", "incorrect", None, None, "no_answer", "correct"],
    }
    # trl's weighted sum (nansum over functions) is what `combine` returns, None where trl has no reward.
    w = torch.tensor([1.0, 0.1])
    trl_sum = (out * w).nansum(dim=1)
    trl_sum[torch.isnan(out).all(dim=1)] = torch.nan
    (comb_out, _) = _trl_calculate_rewards([sk.trl.combine((funcs[0], 1.0), (funcs[1], 0.1))], ROWS)
    assert comb_out[:, 0].tolist() == pytest.approx(trl_sum.tolist(), nan_ok=True)
    # trl passes keywords; a positional call (completions bound to `prompts`) fails loudly.
    for f in funcs:
        with pytest.raises(TypeError):
            f([r["completion"] for r in ROWS], [r["answer"] for r in ROWS])


@pytest.mark.slow  # imports torch and trl (~10 s)
def test_recorder_inside_trl_reward_calls(tmp_path):
    rec = sk.trl.RolloutRecorder(tmp_path, keep=["solution"])
    rec.attach(SimpleNamespace(reward_weights=[1.0, 0.1, 0.5], num_generations=2, scale_rewards="group",
                               multi_objective_aggregation="sum_then_normalize", world_size=1),
               SimpleNamespace(training=True))

    async def judge(*, completions, **kw):  # trl runs async reward functions in its event-loop thread
        await asyncio.sleep(0.01)
        return [0.5] * len(completions)

    funcs = rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward, judge])
    out, _ = _trl_calculate_rewards(funcs, ROWS, step=7)
    out2, _ = _trl_calculate_rewards(funcs, ROWS[:4], step=8)
    rec.flush()
    t = sk.trl.RolloutRecorder.read(tmp_path)
    assert t.num_rows == 10
    assert t["step"].to_pylist() == [7] * 6 + [8] * 4 and set(t["mode"].to_pylist()) == {"train"}
    assert t["problem_id"].type == pa.int64() and t["problem_id"].to_pylist() == [0, 0, 1, 1, 2, 2, 0, 0, 1, 1]
    assert t["solution"].to_pylist()[:2] == ["ref 0", "ref 0"]
    got = [[None if x is None else x for x in t[f"reward_{n}"].to_pylist()[:6]] for n in ("accuracy", "format_boxed", "judge")]
    want = [[None if math.isnan(x) else x for x in out[:, i].tolist()] for i in range(3)]
    assert got == want
    # The total reward and advantage, as trl computes them from the same tensor.
    import torch

    from trl.trainer.utils import nanstd

    rewards = (out * torch.tensor([1.0, 0.1, 0.5])).nansum(dim=1)
    mean = rewards.view(-1, 2).mean(dim=1).repeat_interleave(2)
    std = nanstd(rewards.view(-1, 2), dim=1).repeat_interleave(2)
    adv = torch.nan_to_num((rewards - mean) / (std + 1e-4), nan=0.0)
    assert t["reward"].to_pylist()[:6] == pytest.approx(rewards.tolist(), rel=1e-6)
    assert t["advantage"].to_pylist()[:6] == pytest.approx(adv.tolist(), rel=1e-5, abs=1e-6)
