"""The SFT target format: ``normalize_target`` (calculator annotations removed, the final answer stated last
in a ``\\boxed{}``) never changes a target's final answer, is idempotent, and is what ``to_sft`` applies by
default (so teacher traces, Bridge targets and CFT records share one format)."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stagekit as sk
from stagekit.ladder import make_ladder
from stagekit.transforms.formats import normalize_target, strip_annotations
import realdata
from proptest import fixed

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


@st.composite
def gsm8k_like(draw) -> tuple[str, str]:
    """A GSM8K-style reference solution: steps with calculator annotations, then ``#### answer``."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    lines, value = [], rng.randint(1, 50)
    for _ in range(rng.randint(1, 4)):
        op, b = rng.choice(list(OPS)), rng.randint(1, 20)
        c = OPS[op](value, b)
        lines.append(f"Then {value} {op} {b} = <<{value}{op}{b}={c}>>{c} items.")
        value = c
    answer = f"{value:,}" if draw(st.booleans()) else str(value)
    return "\n".join(lines) + f"\n#### {answer}", str(value)


ENDINGS = [
    "The answer is {a}.", "So the final answer is ${a}$.", "A: {a}", "**Answer:** {a}", "{a}",
    "Tentatively $\\boxed{{{w}}}$. Wait, the final answer is {a}.", "</think> so \\boxed{{{a}}}",
    "so $\\boxed{{{a}}}$. I hope it is correct.", "\\boxed{{{a}}}", "\\fbox{{{a}}} done",
]


@st.composite
def other_targets(draw) -> str:
    a = draw(st.sampled_from(["7", "-3", "\\frac{3}{4}", "2\\sqrt{2}", "(1, 2)", "x^2+1", "12.5", "1,234"]))
    body = draw(st.sampled_from(["", "We compute 3 + 4 = 7.\n", "Some words <<3+4=7>> here. "]))
    return body + draw(st.sampled_from(ENDINGS)).format(a=a, w="5")


junk = st.text(alphabet=st.sampled_from(list("ab 12{}\\$#<>=\n.boxed")), max_size=60)


def _check(text: str) -> str:
    out = normalize_target(text)
    stripped = strip_annotations(text)
    answer = sk.extract_answer(stripped)
    assert normalize_target(out) == out  # idempotent
    if answer is None:
        assert out == stripped  # nothing to restate
    else:
        assert sk.verify(out, answer) or out == stripped  # the final answer never changes
        assert sk.extract_answer(out) is not None
    return out


@fixed(300)
@given(case=gsm8k_like())
def test_gsm8k_targets_end_in_a_box_with_the_same_answer(case):
    text, value = case
    out = _check(text)
    assert "<<" not in out and "####" not in out
    assert out.endswith(f"The final answer is $\\boxed{{{sk.extract_answer(text)}}}$.")
    assert sk.verify(out, value)


@fixed(300)
@given(text=st.one_of(other_targets(), junk))
def test_any_target_keeps_its_final_answer_and_is_idempotent(text):
    _check(text)


def test_an_already_boxed_final_answer_is_kept_as_it_is():
    for row in make_ladder(14, seed=3).to_pylist():
        assert normalize_target(row["solution"]) == row["solution"]
    kept = "so $\\boxed{7}$. I hope it is correct."
    assert normalize_target(kept) == kept
    # a superseded box gets the final answer restated
    out = normalize_target("Tentatively $\\boxed{5}$. Wait, the final answer is 6.")
    assert out.endswith("$\\boxed{6}$.") and sk.extract_answer(out) == "6"
    # a truncated box (no answer) is left alone
    assert normalize_target("so \\boxed{4") == "so \\boxed{4"


def test_to_sft_applies_it_to_the_completion_only():
    t = pa.table({"prompt": ["<<1+1=2>> in the prompt"], "completion": ["1 + 1 = <<1+1=2>>2\n#### 2"]})
    (row,) = sk.to_sft(t, format="prompt_completion").to_pylist()
    assert row["prompt"][0]["content"] == "<<1+1=2>> in the prompt"
    assert row["completion"][0]["content"] == "1 + 1 = 2\nThe final answer is $\\boxed{2}$."
    nulls = sk.to_sft(pa.table({"prompt": ["p"], "completion": pa.array([None], pa.string())}))
    assert nulls["messages"].to_pylist()[0][1]["content"] == ""


@pytest.mark.skipif(realdata.missing_reason() is not None, reason=str(realdata.missing_reason()))
def test_every_gsm8k_reference_solution_normalises_to_its_gold():
    rows = realdata.read_jsonl("benchmarks/gsm8k_test.openai.jsonl")
    assert len(rows) == 1319
    for r in rows:
        gold = r["answer"].rsplit("####", 1)[1].strip()
        out = normalize_target(r["answer"])
        assert "<<" not in out and "####" not in out, r["answer"]
        assert out.endswith(f"$\\boxed{{{gold}}}$."), out[-80:]
        assert sk.verify(out, r["answer"]), out[-80:]
