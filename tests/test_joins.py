"""One pipeline without manual joins: flat zero-reward groups join with the problems, cft_records says why a
kind cannot be made, the stage sets of `stagekit plan` carry the gold, pass@k columns agree with the CLI."""

from __future__ import annotations

import json
import warnings

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stagekit as sk
from stagekit import pipeline
from stagekit.transforms._contract import explode
from proptest import fixed

rollout_rows = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2), st.sampled_from([True, False, None])), min_size=0, max_size=40
)


def _rl(rows) -> pa.Table:
    return pa.table({
        "problem_id": pa.array([p for p, _, _ in rows], pa.int64()),
        "step": pa.array([s for _, s, _ in rows], pa.int64()),
        "completion": [f"attempt {i}" for i in range(len(rows))],
        "correct": pa.array([c for _, _, c in rows], pa.bool_()),
        "answer": [str(p) for p, _, _ in rows],
    })


@fixed(60)
@given(rows=rollout_rows, all_correct=st.booleans())
def test_flat_zero_reward_groups_are_the_exploded_groups_and_join(rows, all_correct):
    t = _rl(rows)
    nested = sk.zero_reward_groups(t, include_all_correct=all_correct)
    flat = sk.zero_reward_groups(t, include_all_correct=all_correct, flat=True)
    assert not any(pa.types.is_list(f.type) or pa.types.is_large_list(f.type) for f in flat.schema)
    assert flat.sort_by("problem_id").to_pylist() == explode(nested, "completions", into="completion").select(
        flat.column_names).sort_by("problem_id").to_pylist()
    assert flat.num_rows == sum(nested["n"].to_pylist())
    # joinable: every row gets its problem's reference solution
    problems = pa.table({"problem_id": pa.array(range(6), pa.int64()), "solution": [f"#### {p}" for p in range(6)]})
    joined = flat.join(problems, "problem_id")
    assert joined.num_rows == flat.num_rows
    assert all(r["solution"] == f"#### {r['problem_id']}" for r in joined.to_pylist())


def _eggs(with_solution: str | None) -> pa.Table:
    t = pa.table({"problem_id": [1, 1], "step": [0, 0], "prompt": ["Eggs?", "Eggs?"], "answer": ["26", "26"],
                  "completion": ["16 - 3 = 13.\n13 * 2 = 27.\nA: 27", "So 25."], "correct": [False, False]})
    failed = sk.zero_reward_groups(t, flat=True)
    if with_solution is None:
        return failed
    return failed.join(pa.table({"problem_id": [1], "solution": [with_solution]}), "problem_id")


def test_the_readme_flow_makes_all_three_kinds_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recs = sk.cft_records(_eggs("16 - 3 = 13 eggs. 13 * 2 = <<13*2=26>>26 dollars.\n#### 26"))
    assert sorted(set(recs["kind"].to_pylist())) == ["diagnosis", "new_trace", "repair"]
    assert pc.sum(pc.equal(recs["kind"], "diagnosis")).as_py() == 2
    assert "<<" not in "".join(recs["response"].to_pylist())


@pytest.mark.parametrize(
    ("solution", "why"),
    [
        (None, "no reference-solution column 'solution'"),
        ("", "null or empty in every row"),
        ("13 * 2 = 26.\n#### 25", "states a final answer equal to the gold"),
    ],
)
def test_cft_records_warns_when_a_kind_cannot_be_made_and_says_why(solution, why):
    with pytest.warns(sk.CFTWarning) as caught:
        recs = sk.cft_records(_eggs(solution))
    messages = [str(w.message) for w in caught]
    assert {m.split(":")[1].strip() for m in messages} == {"no repair records", "no new_trace records"}
    assert all(why in m for m in messages), messages
    assert set(recs["kind"].to_pylist()) == {"diagnosis"}
    # asking only for what can be made is silent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sk.cft_records(_eggs(solution), kinds=("diagnosis",))


def test_cft_records_is_silent_with_nothing_to_make():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = _eggs(None).slice(0, 0)
        assert sk.cft_records(empty).num_rows == 0


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_plan_stage_sets_carry_the_gold_and_feed_accuracy_reward(tmp_path):
    # the README's plan input: rollouts with the gold (a reference solution), problems without one
    rows, problems = [], []
    for p in range(6):
        sol = f"Half of {2 * p} is {p}.\n#### {p}"
        problems.append({"problem_id": p, "prompt": f"What is half of {2 * p}?", "solution": sol})
        for s in range(4):
            rows.append({"problem_id": p, "completion": f"\\boxed{{{p if s < p % 5 else p + 1}}}", "answer": sol})
    rp = _write_jsonl(tmp_path / "rollouts.jsonl", rows)
    pp = _write_jsonl(tmp_path / "problems.jsonl", problems)
    pipeline.plan_files(rp, tmp_path / "run", problems_path=pp)
    run = pipeline.RunDir(tmp_path / "run")
    for name in ("sft", "rl", "drop"):
        t = run.read_table(0, name)
        assert "answer" in t.column_names and t.num_rows, name
        assert t["answer"].to_pylist() == [f"Half of {2 * p} is {p}.\n#### {p}" for p in t["problem_id"].to_pylist()]
    rl = run.read_table(0, "rl")
    trl_mod = pytest.importorskip("stagekit.integrations.trl")
    ds = trl_mod.grpo_dataset(rl)
    golds = {c: ds[c] for c in ds.column_names if c != "prompt"}
    rewards = trl_mod.accuracy_reward(prompts=ds["prompt"], completions=[f"\\boxed{{{p}}}" for p in ds["problem_id"]],
                                      **golds)
    assert rewards == [1.0] * len(ds)
    # pass@8 is left out with 4 samples per problem, as pass_rates leaves it out
    stats = run.read_table(0, "stats")
    assert [c for c in stats.column_names if c.startswith("pass@")] == ["pass@1", "pass@4"]
    direct = sk.pass_rates(sk.score(pa.Table.from_pylist(rows)), k=(1, 4, 8))
    assert [c for c in direct.column_names if c.startswith("pass@")] == ["pass@1", "pass@4"]


def test_problems_gold_wins_over_the_rollouts(tmp_path):
    rows = [{"problem_id": 0, "completion": "\\boxed{1}", "answer": "#### 1"},
            {"problem_id": 0, "completion": "\\boxed{2}", "answer": "#### 1"}]
    problems = pa.table({"problem_id": [0], "prompt": ["?"], "answer": ["1"]})
    tables = pipeline.plan(pa.Table.from_pylist(rows), pipeline.PlanConfig(), problems)
    assert tables["rl"]["answer"].to_pylist() == ["1"]


def test_plan_reads_trls_solution_spelling_of_the_gold(tmp_path):
    rows = [{"problem_id": 0, "completion": "\\boxed{1}", "solution": "#### 1"},
            {"problem_id": 0, "completion": "\\boxed{2}", "solution": "#### 1"}]
    rp = _write_jsonl(tmp_path / "r.jsonl", rows)
    m = pipeline.plan_files(rp, tmp_path / "run")
    assert m["rounds"][0]["rows"]["rl"] == 1
    assert pipeline.RunDir(tmp_path / "run").read_table(0, "rl")["solution"].to_pylist() == ["#### 1"]


def test_accuracy_reward_reads_trls_solution_column_when_there_is_no_answer():
    trl_mod = pytest.importorskip("stagekit.integrations.trl")
    completions = ["so \\boxed{72}", "so \\boxed{71}"]
    solution = ["48/2 = 24\n#### 72"] * 2
    assert trl_mod.accuracy_reward(prompts=["?"] * 2, completions=completions, solution=solution) == [1.0, 0.0]
    # `answer` wins when both are present; a named column is never replaced
    both = trl_mod.accuracy_reward(prompts=["?"] * 2, completions=completions, solution=solution, answer=["71"] * 2)
    assert both == [0.0, 1.0]
    with pytest.raises(KeyError, match="'gold'"):
        trl_mod.AccuracyReward("gold")(prompts=["?"] * 2, completions=completions, solution=solution)
