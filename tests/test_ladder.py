"""The built-in problem ladder: deterministic, graded, and with true worked solutions."""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from proptest import fixed

import stagekit as sk
from stagekit import _core
from stagekit.ladder import BOXED_INSTRUCTION, LEVELS, make_ladder, make_problem

ALL_LEVELS = [lvl.level for lvl in LEVELS]
NUMBER = re.compile(r"^-?\d+(\.\d+)?$|^-?\d+/\d+$")


def _check_row(row: dict) -> None:
    sol, ans = row["solution"], row["answer"]
    claims = _core.arithmetic_claims(sol)
    assert claims, f"{row['problem_id']}: no checkable step in\n{sol}"
    bad = [c for c in claims if not c[5]]
    assert not bad, f"{row['problem_id']}: false claims {bad} in\n{sol}"
    # Every line with an `=` is a checked claim (no step escapes the checker).
    eq_lines = [line for line in sol.splitlines() if "=" in line]
    assert len(claims) == len(eq_lines), f"{row['problem_id']}: unchecked step in\n{sol}"
    assert sol.rstrip().endswith(f"The final answer is $\\boxed{{{ans}}}$.")
    assert sk.extract_gold(sol) == ans
    assert sk.verify(sol, ans), row
    assert NUMBER.match(ans), ans
    q = Fraction(ans)  # parseable as an exact number
    if "/" in ans:
        assert q.denominator != 1 and f"{q.numerator}/{q.denominator}" == ans, f"not reduced: {ans}"
    if "." in ans:
        assert not ans.endswith("0"), ans
    assert q >= 0
    assert row["prompt"].endswith(BOXED_INSTRUCTION)
    assert "\\boxed{}" in row["prompt"]


def test_levels_descriptors():
    assert len(LEVELS) >= 6
    assert ALL_LEVELS == list(range(1, len(LEVELS) + 1))
    for lvl in LEVELS:
        assert lvl.name and lvl.description


def test_schema_and_ids():
    t = make_ladder(30, seed=1)
    assert t.num_rows == 30
    assert t.column_names == ["problem_id", "level", "prompt", "answer", "solution"]
    assert pa.types.is_integer(t.schema.field("level").type)
    rows = t.to_pylist()
    for row in rows:
        assert re.fullmatch(r"L\d-\d{4}", row["problem_id"])
        assert row["problem_id"].startswith(f"L{row['level']}-")
    assert len({r["problem_id"] for r in rows}) == 30
    assert make_ladder(0).num_rows == 0


def test_round_robin_counts():
    t = make_ladder(7 * 5 + 3, seed=2)
    levels = t.column("level").to_pylist()
    assert levels[:7] == ALL_LEVELS
    c = Counter(levels)
    assert c == Counter({1: 6, 2: 6, 3: 6, 4: 5, 5: 5, 6: 5, 7: 5})
    sub = make_ladder(9, seed=2, levels=[5, 2, 7])
    assert sub.column("level").to_pylist() == [5, 2, 7] * 3
    assert sub.column("problem_id").to_pylist()[:4] == ["L5-0000", "L2-0000", "L7-0000", "L5-0001"]


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_ladder(-1)
    with pytest.raises(ValueError):
        make_ladder(3, levels=[])
    with pytest.raises(ValueError):
        make_ladder(3, levels=[99])
    with pytest.raises(ValueError):
        make_ladder(3, levels=[1, 1])
    with pytest.raises(ValueError):
        make_problem(0, 0)


def test_deterministic_and_seed_sensitive():
    a, b = make_ladder(70, seed=11), make_ladder(70, seed=11)
    assert a.equals(b)
    c = make_ladder(70, seed=12)
    assert a.column("problem_id").equals(c.column("problem_id"))
    differ = sum(x != y for x, y in zip(a.column("prompt").to_pylist(), c.column("prompt").to_pylist()))
    assert differ > 60


def test_prefix_stable():
    small, big = make_ladder(10, seed=4), make_ladder(100, seed=4)
    assert big.slice(0, 10).equals(small)
    sub_small = make_ladder(4, seed=4, levels=[3, 6])
    sub_big = make_ladder(40, seed=4, levels=[3, 6])
    assert sub_big.slice(0, 4).equals(sub_small)
    # A level's problems do not depend on which other levels are asked for.
    row = make_ladder(2, seed=4, levels=[3, 6]).to_pylist()[1]
    assert row == make_ladder(6, seed=4).to_pylist()[5]


def test_every_solution_true_large_batch():
    rows = make_ladder(1400, seed=7).to_pylist()
    for row in rows:
        _check_row(row)
    # Variety: many distinct problems per level; fractions and decimals appear in the upper levels.
    for lvl in ALL_LEVELS:
        prompts = {r["prompt"] for r in rows if r["level"] == lvl}
        assert len(prompts) > 100, (lvl, len(prompts))
    answers = [r["answer"] for r in rows if r["level"] >= 6]
    assert any("/" in a for a in answers) and any("." in a for a in answers)
    assert all("/" not in r["answer"] and "." not in r["answer"] for r in rows if r["level"] <= 5)


def test_difficulty_grows():
    rows = make_ladder(700, seed=3).to_pylist()
    steps = {lvl: [len(_core.arithmetic_claims(r["solution"])) for r in rows if r["level"] == lvl] for lvl in ALL_LEVELS}
    assert all(n == 1 for n in steps[1] + steps[2] + steps[4])
    assert all(n == 2 for n in steps[3])
    assert all(n >= 2 for n in steps[5])
    assert min(steps[7]) >= 4
    mean = {k: sum(v) / len(v) for k, v in steps.items()}
    assert mean[5] < mean[6] <= mean[7]


@fixed(40)
@given(seed=st.integers(0, 10**6), level=st.sampled_from(ALL_LEVELS), index=st.integers(0, 10**4))
def test_any_problem_is_correct(seed, level, index):
    p = make_problem(level, index, seed=seed)
    assert p.problem_id == f"L{level}-{index:04d}"
    _check_row(p.__dict__)
    assert make_problem(level, index, seed=seed) == p


@fixed(15)
@given(seed=st.integers(0, 10**6))
def test_ladder_any_seed(seed):
    t = make_ladder(21, seed=seed)
    assert t.equals(make_ladder(21, seed=seed))
    for row in t.to_pylist():
        _check_row(row)
