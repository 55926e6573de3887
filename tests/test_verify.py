"""The verifier's specified behaviour, case by case (issue: foundation and verifier)."""

from __future__ import annotations

import pyarrow as pa
import pytest

import stagekit as sk

# ---------------------------------------------------------------------------------------------- extraction

EXTRACTION = [
    # (completion, expected extracted answer)
    ("so the answer is $\\boxed{\\frac{a}{b^{2}}}$.", "\\frac{a}{b^{2}}"),
    ("\\fbox{12}", "12"),
    ("first \\boxed{1}, then \\boxed{2}", "2"),
    ("So \\boxed{5}. Hmm, wait. The final answer is $6$.", "6"),
    ("Tentatively $\\boxed{5}$. Actually the answer is 7.", "7"),
    ("\\boxed{6}. So the answer is correct.", "6"),
    ("The final answer is 12.", "12"),
    ("The answer is 12.5.", "12.5"),
    ("Answer: 42", "42"),
    ("**Answer:** $\\frac{1}{2}$", "\\frac{1}{2}"),
    ("**Answer**: (C)", "(C)"),
    ("48/2 = 24\n#### 72", "72"),
    ("Final Answer: The final answer is $x^2+1$. I hope it is correct.", "x^2+1"),
    ("**Final Answer**\n\\[\n\\boxed{7}\n\\]", "7"),
    ("<think>maybe \\boxed{3}</think>\nThe answer is $4$.", "4"),
    ("we finally get $x = 5$ and stop.", "x = 5"),
    ("so there are 12 apples left.", "12"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
    ("\\boxed{\\left[ 1, \\frac{3}{2} \\right)}", "\\left[ 1, \\frac{3}{2} \\right)"),
]


@pytest.mark.parametrize(("completion", "expected"), EXTRACTION)
def test_extract_answer(completion: str, expected: str) -> None:
    assert sk.extract_answer(completion) == expected


@pytest.mark.parametrize(
    "completion",
    ["no numbers here", "<think>\\boxed{3}</think>", "Thus \\boxed{\\frac{1}{2}", "\\boxed{}", ""],
)
def test_no_answer(completion: str) -> None:
    assert sk.extract_answer(completion) is None
    assert sk.check(completion, "3").status == "no_answer"


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72"),
        ("The sum is $\\boxed{\\frac{1}{2}}$ since ...", "\\frac{1}{2}"),
        ("\\frac{3}{4}", "\\frac{3}{4}"),
        (" (C) ", "(C)"),
        ("[-2, 5)", "[-2, 5)"),
    ],
)
def test_extract_gold(gold: str, answer: str) -> None:
    assert sk.extract_gold(gold) == answer


# ---------------------------------------------------------------------------------------------- equivalence

EQUAL = {
    "numbers": [
        ("72", "72"),
        ("3,607,421", "3607421"),
        ("3\\,607\\,421", "3607421"),
        ("3{,}607{,}421", "3607421"),
        ("\u22125", "-5"),
        ("2.4e8", "240000000"),
        ("3.2\\times10^{5}", "320000"),
        ("3.2 \\cdot 10^5", "320000"),
        ("\\frac34", "\\frac{3}{4}"),
        ("\\dfrac{3}{4}", "0.75"),
        ("3/4", "\\frac{3}{4}"),
        ("2\\frac{1}{3}", "\\frac{7}{3}"),
        ("2 \\frac{1}{3}", "7/3"),
        ("5.0", "5"),
        ("18.90", "18.9"),
        ("0.3333333333333333", "\\frac13"),
        ("1.4142135623730951", "\\sqrt2"),
    ],
    "percent": [("50\\%", "50"), ("50%", "0.5"), ("25 percent", "25\\%"), ("12.5\\%", "12.5\\%")],
    "symbolic": [
        ("\\sqrt{8}", "2\\sqrt{2}"),
        ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"),
        ("\\frac{\\pi}{6}", "\\pi/6"),
        ("2\\pi", "\\pi \\cdot 2"),
        ("e^{2}", "\\exp(2)"),
        ("\\log_2 8", "3"),
        ("\\ln(e^3)", "3"),
        ("\\sin^2 x", "1-\\cos^2 x"),
        ("\\sin(2x)", "2\\sin x\\cos x"),
        ("\\binom{10}{3}", "120"),
        ("\\frac{10!}{3!7!}", "120"),
        ("5!", "120"),
        ("(-8)^{1/3}", "-2"),
        ("\\sqrt[3]{27}", "3"),
    ],
    "expressions": [
        ("2x+3", "3+2x"),
        ("(x-2)(x-3)", "x^2-5x+6"),
        ("\\frac{4x+6}{2}", "2x+3"),
        ("x^2 y", "y x^2"),
        ("\\frac{1}{x}+\\frac{1}{y}", "\\frac{x+y}{xy}"),
        ("a_1 + a_2", "a_2 + a_1"),
    ],
    "equations": [
        ("y = 2x + 1", "2x - y + 1 = 0"),
        ("x = 5", "5"),
        ("5", "x=5"),
        ("y=2x+1", "y = 1 + 2x"),
        ("f(x) = x^2", "x^2"),
        ("11 + 2 = 13", "13"),  # a computation: its value is the last side
        ("2 \\cdot 3 = 6", "6"),
        ("\\frac{6}{4} = 1.5", "\\frac{3}{2}"),
        ("13", "11+2=13"),
    ],
    "structures": [
        ("(-\\infty, 1) \\cup (2, \\infty)", "(-\\infty,1)\\cup(2,+\\infty)"),
        ("(2, \\infty) \\cup (-\\infty, 1)", "(-\\infty, 1) \\cup (2, \\infty)"),
        ("x < 1 \\text{ or } x > 2", "(-\\infty, 1) \\cup (2, \\infty)"),
        ("x \\ge 3", "[3, \\infty)"),
        ("-2 \\le x < 5", "[-2, 5)"),
        ("5 > x \\ge -2", "[-2, 5)"),
        ("x \\in [-2, 5)", "[-2, 5)"),
        ("(3, -1)", "\\left(3,-1\\right)"),
        ("\\{3, 1, 2\\}", "\\{1, 2, 3\\}"),
        ("x = 3 \\text{ or } x = -2", "-2, 3"),
        ("x=3, x=-2", "-2, 3"),
        ("3, -2", "-2, 3"),
        ("1 \\pm \\sqrt{2}", "1+\\sqrt2, 1-\\sqrt2"),
        ("\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
        ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1, 2)"),
        ("4 - 3i", "-3i + 4"),
        ("(1+i)^2", "2i"),
        ("1011_2", "1011_{2}"),
        ("11", "1011_2"),
        ("1011", "1011_2"),
        ("\\emptyset", "\\{\\}"),
        ("9^{9^{9^{9}}}", "9^{9^{9^9}}"),
    ],
    "text": [
        ("\\text{Tuesday}", "Tuesday"),
        ("\\textbf{tuesday}", "\\text{Tuesday}"),
        ("\\mathrm{even}", "even"),
        ("30^\\circ", "30"),
        ("30^{\\circ}", "30^\\circ"),
        ("30\u00b0", "30"),
        ("30 \\text{ degrees}", "30^\\circ"),
        ("\\$18.90", "18.90"),
        ("18.90 dollars", "\\$18.90"),
        ("12\\,\\mathrm{cm}", "12"),
        ("12 \\text{ cm}^2", "12"),
        ("5 apples", "5"),
        ("(C)", "C"),
        ("\\text{(C)}", "(C)"),
        ("Option C", "C"),
        ("C", "\\text{(C)}"),
        ("(C) 24", "C"),
        ("b", "b"),
    ],
    "latex_noise": [
        ("\\left( 1, 2 \\right)", "(1, 2)"),
        ("\\!\\frac{1}{2}\\!", "\\frac12"),
        ("\\displaystyle \\frac{1}{2}", "0.5"),
        ("$\\frac{1}{2}$", "1/2"),
        ("\\(\\frac{1}{2}\\)", "1/2"),
        ("\\[\\frac{1}{2}\\]", "1/2"),
        ("\\frac{1}{2}\u200b", "1/2"),
        ("\\tfrac{1}{2}", "\\cfrac{1}{2}"),
    ],
}

NOT_EQUAL = [
    ("1234568", "1234567"),
    ("2^{-98}", "2^{-99}"),
    ("[-2,5]", "(-2,5]"),
    ("(-1,3)", "(3,-1)"),
    ("1+\\sqrt2", "1\\pm\\sqrt2"),
    ("3+4i", "3-4i"),
    ("4", "4\\sqrt{2}"),
    ("0.333", "\\frac13"),
    ("1.414", "\\sqrt2"),
    ("3.14", "\\pi"),
    ("1234567.0", "1234568"),
    ("2x+3", "2y+3"),
    ("2x-3", "2x+3"),
    ("x^2-5x-6", "(x-2)(x-3)"),
    ("y=2x-1", "y=2x+1"),
    ("x=6", "5"),
    ("11 + 2 = 22", "13"),  # a wrong computation: its last side is the answer, and it is wrong
    ("2x + 1 = 5", "5"),  # an equation in x is not the number on its right
    ("(-\\infty, 1] \\cup [2, \\infty)", "(-\\infty, 1) \\cup (2, \\infty)"),
    ("\\{1, 2\\}", "\\{1, 2, 3\\}"),
    ("-2", "-2, 3"),
    ("\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
    ("\\text{Monday}", "\\text{Tuesday}"),
    ("(B)", "(C)"),
    ("B", "C"),
    ("\\frac{2}{3}", "\\frac{3}{2}"),
    ("\\frac{2\\cdot 1}{3}", "2\\frac{1}{3}"),
    ("49\\%", "50\\%"),
    ("\\sqrt{3}/2", "\\sqrt{2}/2"),
    ("10^{10^{10}}", "2"),
    ("9^{9^{9^9}}", "1"),
]


def _flat(cases: dict[str, list[tuple[str, str]]]) -> list:
    return [pytest.param(p, g, id=f"{k}:{p}|{g}") for k, v in cases.items() for p, g in v]


@pytest.mark.parametrize(("pred", "gold"), _flat(EQUAL))
def test_equal(pred: str, gold: str) -> None:
    assert sk.compare(pred, gold) == "correct"
    # And through a full completion, both as a box and as a closing sentence.
    assert sk.verify(f"Work... so the answer is $\\boxed{{{pred}}}$.", gold)


@pytest.mark.parametrize(("pred", "gold"), [pytest.param(p, g, id=f"{p}|{g}") for p, g in NOT_EQUAL])
def test_wrong_stays_wrong(pred: str, gold: str) -> None:
    assert sk.compare(pred, gold) in ("incorrect", "unparseable")
    assert not sk.verify(f"\\boxed{{{pred}}}", gold)


def test_rel_tol_policy() -> None:
    # Decimals with a fractional part agree within rel_tol; exact values never use a tolerance.
    assert sk.compare("0.33333", "1/3") == "incorrect"
    assert sk.compare("0.33333", "1/3", rel_tol=1e-4) == "correct"
    assert sk.compare("1000001", "1000000", rel_tol=1e-3) == "incorrect"


def test_verdict_fields() -> None:
    v = sk.check("The answer is $\\boxed{\\dfrac{3}{4}}$.", "#### 0.75")
    assert v == sk.Verdict("correct", "\\dfrac{3}{4}", "0.75")
    assert v.correct
    bad = sk.check("\\boxed{\\frac{3}{5}}", "0.75")
    assert (bad.status, bad.correct, bad.predicted) == ("incorrect", False, "\\frac{3}{5}")
    assert sk.check("\\boxed{\\int_0^1 f(x)\\,dx}", "5").status == "unparseable"


# ---------------------------------------------------------------------------------------------- batches

PAIRS = [(f"\\boxed{{{p}}}", g) for p, g in EQUAL["numbers"] + NOT_EQUAL] + [("nothing", "3"), (None, "3")]


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_batch_matches_single(threads: int | None) -> None:
    comps = [c for c, _ in PAIRS]
    golds = [g for _, g in PAIRS]
    expect = [sk.check(c, g) if c is not None else sk.Verdict("no_answer", None, g) for c, g in PAIRS]
    got = sk.verify_batch(comps, golds, threads=threads)
    assert isinstance(got, pa.BooleanArray)
    assert got.to_pylist() == [v.correct for v in expect]
    table = sk.check_batch(comps, golds, threads=threads)
    assert table.column_names == ["correct", "status", "predicted", "gold_answer"]
    assert table["status"].to_pylist() == [v.status for v in expect]
    assert table["predicted"].to_pylist() == [v.predicted for v in expect]


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string(), pa.string_view()])
def test_batch_accepts_arrow(typ: pa.DataType) -> None:
    comps = pa.array([c for c, _ in PAIRS], typ)
    golds = pa.chunked_array([pa.array([g for _, g in PAIRS[:5]], typ), pa.array([g for _, g in PAIRS[5:]], typ)])
    expect = sk.verify_batch([c for c, _ in PAIRS], [g for _, g in PAIRS])
    assert sk.verify_batch(comps, golds).equals(expect)


def test_batch_errors() -> None:
    with pytest.raises(ValueError, match="2 rows but golds has 1"):
        sk.verify_batch(["a", "b"], ["1"])
    with pytest.raises(TypeError, match="golds"):
        sk.verify_batch(["a"], pa.array([1]))
    with pytest.raises(TypeError, match=r"completions\[1\]"):
        sk.verify_batch(["a", 3], ["1", "2"])
    with pytest.raises(TypeError, match="single str"):
        sk.verify_batch("abc", ["1"])
    with pytest.raises(ValueError, match="threads"):
        sk.verify_batch(["a"], ["1"], threads=0)
    with pytest.raises(ValueError, match="rel_tol"):
        sk.check("a", "1", rel_tol=-1.0)


def test_null_gold_is_unparseable() -> None:
    t = sk.check_batch(["\\boxed{1}"], [None])
    assert t["status"].to_pylist() == ["unparseable"]
