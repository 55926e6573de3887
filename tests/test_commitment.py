"""What counts as a committed answer: truncated completions, ``require_marker``, and multiple choice.

A value picked out of unfinished prose is not an answer the completion committed to (trl truncates at
``max_completion_length`` all the time); an answer naming two options commits to neither. Generators:

- *truncation*: real completions from ``../shared/data/generations`` (GSM8K GPT-3, Qwen2.5-Math, NeMo-Skills,
  ToRA) cut at seeded random token positions (tokens as LLM tokenizers split text: single digits, words,
  spaces, punctuation). Without a marker, a cut that does not end a sentence is ``no_answer``; with
  ``require_marker=True`` every cut without a marker is ``no_answer``; a marker committed before the cut
  still counts.
- *choices*: every pair of option letters in every way of naming two options (``C or D``, ``C and D``,
  ``C or not C``, ``(C), (D)``, ``C/D``, ``C) 24 or D) 30``, ...), with real option texts from AQuA and
  LogiQA, against either letter as the gold: never correct; every single option in every spelling, with
  the same texts: correct against its own letter only.
"""

from __future__ import annotations

import random
import re
import string

import pytest

import realdata as rd
import stagekit as sk

# ---------------------------------------------------------------------------------------------------------
# require_marker through every entry point.

MARKED = ["so $\\boxed{7}$", "The answer is 7.", "**Answer:** 7", "48/2 = 24\n#### 7", "Q: 3+4?\nA: 7"]
UNMARKED_FINISHED = ["3 + 4 = 7, so there are 7 apples.", "We get $7$ in the end!", "7"]
UNFINISHED = ["3 + 4 = 7, so there are 7 apples and", "We get $7$", "so 7 = 3 +", "... 7 apples, but in this grid, all"]


@pytest.mark.parametrize("text", MARKED + UNMARKED_FINISHED + UNFINISHED)
def test_require_marker_everywhere(text: str) -> None:
    marked = text in MARKED
    finished = text in MARKED + UNMARKED_FINISHED
    assert sk.check(text, "7").correct == finished
    assert sk.verify(text, "7") == finished
    assert sk.check(text, "7", require_marker=True).correct == marked
    assert sk.verify(text, "7", require_marker=True) == marked
    assert (sk.extract_answer(text, require_marker=True) is not None) == marked
    assert sk.verify_batch([text], ["7"], require_marker=True).to_pylist() == [marked]
    assert sk.check_batch([text], ["7"], require_marker=True)["status"].to_pylist() == [
        "correct" if marked else "no_answer"
    ]
    import pyarrow as pa

    t = sk.score(pa.table({"completion": [text], "answer": ["7"]}), require_marker=True)
    assert t["correct"].to_pylist() == [marked]
    assert sk.trl.AccuracyReward(require_marker=True)(completions=[text], answer=["7"]) == [float(marked)]
    if not finished:
        assert sk.check(text, "7").status == "no_answer"


# ---------------------------------------------------------------------------------------------------------
# Truncated real completions.

TOKEN = re.compile(r"\d|[A-Za-z]+|\s+|[^\sA-Za-z\d]")
CLOSERS = "*_)\"'\u201d\u2019\u00bb$ "


def ends_a_sentence(text: str) -> bool:
    """The finished-text rule as the README states it, written independently of the Rust code."""
    t = text.rstrip()
    if t.endswith("...") or t.endswith("\u2026"):
        return False
    t = t.rstrip(CLOSERS)
    if t.endswith("\\)") or t.endswith("\\]"):
        return False
    return t.endswith((".", "!", "?", "\u3002"))


def _completions() -> list[tuple[str, str, str]]:
    out = []
    for r in rd.gsm8k_gpt3():
        out.append(("gsm8k_gpt3", r.completion, r.gold))
    for r in rd.qwen25math_cot("gt"):
        out.append(("qwen25math", r.completion, r.gold))
    for seed in range(3):
        out += [("nemo_skills", r.completion, r.gold) for r in rd.nemo_skills(seed)]
    for model in ("tora-70b-v1.0", "tora-code-34b-v1.0"):
        out += [("tora", r.completion, r.gold) for r in rd.tora_gsm8k(model)]
    return out


@pytest.mark.skipif(bool(rd.missing_reason()), reason=rd.missing_reason() or "")
def test_truncated_completions_never_score_from_prose() -> None:
    rng = random.Random(7)
    rows = _completions()
    prefixes, golds, kinds = [], [], []
    for _, text, gold in rng.sample(rows, 2500):
        cuts = [m.end() for m in TOKEN.finditer(text)][:-1]
        for end in rng.sample(cuts, min(4, len(cuts))):
            prefixes.append(text[:end])
            golds.append(gold)
    marked = [sk.extract_answer(p, require_marker=True) is not None for p in prefixes]
    default = sk.check_batch(prefixes, golds).to_pylist()
    strict = sk.check_batch(prefixes, golds, require_marker=True).to_pylist()
    bad, counts = [], {"marked": 0, "sentence end": 0, "unfinished": 0, "correct from a marker": 0, "correct at a sentence end": 0}
    for p, m, v, s in zip(prefixes, marked, default, strict, strict=True):
        if not m:
            assert s["status"] == "no_answer", p[-200:]
        if m:
            counts["marked"] += 1
            counts["correct from a marker"] += v["correct"]
        elif len(p.strip()) <= 80 and "\n" not in p.strip():
            # A completion that is nothing but a short expression commits to it (`2x`, `n(n+1)/2`): a cut
            # within the first few tokens looks the same. Counted, not judged.
            counts["short"] = counts.get("short", 0) + 1
        elif ends_a_sentence(p):
            counts["sentence end"] += 1
            counts["correct at a sentence end"] += v["correct"]
        else:
            counts["unfinished"] += 1
            if v["status"] != "no_answer":
                bad.append(f"{v['status']} predicted={v['predicted']!r}: ...{p[-120:]!r}")
    print(f"\n{len(prefixes)} cuts of real completions: {counts}")
    assert counts["unfinished"] > 5000
    assert not bad, f"{len(bad)} unfinished cuts committed to an answer:\n" + "\n".join(bad[:20])


# ---------------------------------------------------------------------------------------------------------
# Multiple choice.

LETTERS = "ABCDE"
#: Ways of naming two options; {a} and {b} are letters, {ta} and {tb} option texts.
TWO = [
    "{a} or {b}", "{a} and {b}", "{a} or not {a}", "({a}), ({b})", "{a}/{b}", "{a}, {b}", "{a} & {b}", "{a} {b}",
    "({a}) and ({b})", "{a} or ({b})", "({a}) {ta} or ({b}) {tb}", "{a}) {ta} and {b}) {tb}", "both {a} and {b}",
    "either {a} or {b}", "{a} and {b} are both correct", "\\text{(}{a}\\text{) or (}{b}\\text{)}", "{a} \\text{ or } {b}",
    "{a}, {b} and {c}",
]
#: Ways of naming one option.
ONE = ["{a}", "({a})", "{a})", "{a}) {ta}", "({a}) {ta}", "{a}. {ta}", "Option {a}", "\\text{(}{a}\\text{)}", "\\textbf{({a})}",
       "{a}: {ta}"]


def fill(form: str, **values: str) -> str:
    """`form` with `{name}` replaced (LaTeX braces stay as they are)."""
    for k, v in values.items():
        form = form.replace("{" + k + "}", v)
    return form


def _option_texts() -> list[str]:
    texts = ["24", "5(\\sqrt{3} + 1)", "x = 2", "f(x) = 2x", "A right triangle", "Both A and B are true",
             "I and II only", "None of the above", "G is taller than H", "3/4"]
    if not rd.missing_reason():
        for g in rd.benchmark("aqua_test.qwen25math.jsonl")[:60] + rd.benchmark("logiqa_test.txt")[:60]:
            text = (g.option or "")[2:].strip()
            if len(text) > 0 and not re.match(r"[A-Ea-e][).]", text):  # AQuA's `A)A)59` repeats its label
                texts.append(text)
    return texts


def test_two_options_are_not_a_choice() -> None:
    rng = random.Random(11)
    texts = _option_texts()
    accepted = []
    n = 0
    for a in LETTERS:
        for b in LETTERS:
            if a == b:
                continue
            c = next(x for x in LETTERS if x not in (a, b))
            for form in TWO:
                pred = fill(form, a=a, b=b, c=c, ta=rng.choice(texts), tb=rng.choice(texts))
                for gold in (a, b, f"({a})", a.lower()):
                    n += 1
                    got = [sk.compare(pred, gold)]
                    if not re.search(r"[.,;]", pred):
                        # After a marker, extraction reads the answer to the end of its first clause (`The
                        # answer is B) Haoyun Station, Yinling Station, ...` commits to B): through a
                        # completion, only option texts without a clause break are judged here.
                        got.append(sk.check(f"The answer is {pred}.", gold).status)
                        got.append(sk.check(f"**Answer:** {pred}", gold).status)
                        got.append(sk.check(f"so the answer is $\\boxed{{{pred}}}$", gold).status)
                    if "correct" in got:
                        accepted.append(f"{pred!r} vs {gold!r}: {got}")
    print(f"\n{n} two-option answers against a letter")
    assert not accepted, "\n".join(accepted[:30])


def test_one_option_is_a_choice() -> None:
    texts = _option_texts()
    wrong = []
    for a in LETTERS:
        for text in texts:
            for form in ONE:
                pred = fill(form, a=a, ta=text)
                for gold, want in ((a, "correct"), (a.lower(), "correct"), (f"({a})", "correct"),
                                   (next(x for x in LETTERS if x != a), "incorrect")):
                    got = sk.compare(pred, gold)
                    if got != want:
                        wrong.append(f"{pred!r} vs {gold!r}: {got}, want {want}")
    assert not wrong, "\n".join(wrong[:30])


def test_lowercase_keys() -> None:
    assert sk.compare("b", "b") == "correct"
    assert sk.compare("b or c", "b") == "incorrect"
    assert sk.compare("(b), (c)", "b") == "incorrect"
    assert sk.compare("B.G. and H. are right", "b") == "correct"  # an option's text, not a second option
    assert set(string.ascii_uppercase[:5]) == set(LETTERS)
