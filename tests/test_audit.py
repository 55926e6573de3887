"""Red-team audit of the verifier: generated false-accept probes and hostile inputs, per category.

The other verifier suites hold polynomial near misses (``test_near_miss.py``), notation (``test_notation.py``),
unfinished prose (``test_commitment.py``) and depth (``test_nesting.py``). This file generates the
categories outsiders probe a reward with, each from a seeded family whose verdict comes from exact
arithmetic or sympy on the drawn values, never from the renderings:

- *numbers*: percent / decimal / fraction shifts (``50\\%`` vs ``0.05``), scientific exponents one off,
  mixed numbers against the digits run together (``2 1/3`` vs ``21/3``), two numbers side by side
  (``4 5``), a list against its digits with separators (``1, 234`` vs ``1234``), huge integers one off in
  the last digit, signs (unicode minus, ``+``), leading zeros (equal); a slash before a product
  (``1/2\\pi``: ``(1/2)\\pi`` or ``1/(2\\pi)``) is neither reading;
- *words after a number*: a word that changes or judges the value (``4 \\text{ thousand}``, ``4 squared``,
  ``4 \\text{ is wrong}``) is never a unit; unit words stay units (controls);
- *intervals and sets*: endpoint brackets swapped, an endpoint moved, unions reordered (equal) or one
  piece changed, ``\\infty`` ends, an interval against the list or set of its endpoints (sympy sets);
- *points*: named coordinates in any written order against the tuple, and against the swapped tuple;
- *matrices*: one entry changed, transposed, reshaped, ``pmatrix`` vs ``bmatrix`` (equal);
- *multiple choice*: a key's spellings (equal), another letter, two letters joined in every way;
- *commitment*: completions that hedge (``\\boxed{a} or \\boxed{b}``, ``a or maybe b``, ``\\pm a``), answer
  only inside ``<think>``, box the question, box an empty or longer expression holding the gold
  (``a+1``), or correct themselves (the last answer counts);
- *constants*: ``\\pi``, ``\\sqrt 3``, ``\\ln 2``, ``e^2`` and others rounded to k digits: accepted only
  within the default ``rel_tol`` 1e-8, never a human rounding; complex roots of negatives take the
  principal branch (``\\sqrt{-4}`` = ``2i`` ≠ ``-2i``);
- *transitivity*: no answer (random tokens and golds glued together) is accepted against two golds that
  differ from each other;
- *hostile input*: random LaTeX tokens, markers and unicode through every entry point (``check``,
  ``compare``, ``extract_answer``, ``normalize_answer``, ``check_batch``, ``verify_batch``, ``score``):
  only the four statuses, never an exception.

Gate everywhere: no near miss is ``correct`` (a false accept is a reward hack), each equal form listed
as one is ``correct``.
"""

from __future__ import annotations

import random
from fractions import Fraction

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stagekit as sk
from tests.proptest import SCALE, fixed

sympy = pytest.importorskip("sympy")

SEED = 20261130
STATUSES = {"correct", "incorrect", "no_answer", "unparseable"}


def _n(k: int) -> int:
    return max(1, int(k * SCALE))


def _both_ways(pairs: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Every pair compared both ways whose verdict is ``correct``: (pred, gold, status)."""
    out = []
    for p, g in pairs:
        for a, b in ((p, g), (g, p)):
            s = sk.compare(a, b)
            if s == "correct":
                out.append((a, b, s))
    return out


def _frac_tex(q: Fraction) -> str:
    sign = "-" if q < 0 else ""
    q = abs(q)
    return f"{sign}\\frac{{{q.numerator}}}{{{q.denominator}}}" if q.denominator != 1 else f"{sign}{q.numerator}"


def _dec(q: Fraction) -> str | None:
    """The exact decimal of ``q`` if it terminates (at most 12 places)."""
    for places in range(13):
        scaled = q * 10**places
        if scaled.denominator == 1:
            n = scaled.numerator
            sign = "-" if n < 0 else ""
            digits = str(abs(n)).rjust(places + 1, "0")
            return sign + (digits[:-places] + "." + digits[-places:] if places else digits)
    return None


# --- numbers -------------------------------------------------------------------------------------------


def number_cases(seed: int, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(equal pairs, near-miss pairs) over percents, decimals, fractions, mixed numbers, exponents, signs."""
    r = random.Random(seed)
    equal, near = [], []
    for _ in range(n):
        # Percent vs decimal vs fraction: p% is p and p/100; p/10 and p/1000 are neither.
        p = Fraction(r.randint(1, 999), r.choice([1, 1, 10]))
        pd = _dec(p)
        for other in (p / 10, p / 1000, p * 10):
            od = _dec(other)
            if od is not None and pd is not None and other not in (p, p / 100):
                near.append((f"{pd}\\%", od))
        if pd is not None and _dec(p / 100) is not None:
            equal.append((f"{pd}\\%", _dec(p / 100)))
        # Scientific notation, exponent one off.
        m, k = r.randint(11, 99), r.randint(2, 12)
        mant = f"{m // 10}.{m % 10}"
        equal.append((f"{mant}e{k}", str(m * 10 ** (k - 1))))
        equal.append((f"{mant} \\times 10^{{{k}}}", str(m * 10 ** (k - 1))))
        near.append((f"{mant}e{k}", f"{mant}e{k + 1}"))
        near.append((f"{mant} \\times 10^{{{k}}}", f"{mant} \\times 10^{{{k - 1}}}"))
        # Mixed numbers: `a b/c` is a + b/c, never ab/c nor b/c nor a·b/c.
        a, c = r.randint(1, 9), r.randint(2, 9)
        b = r.randint(1, c - 1)
        mixed = Fraction(a) + Fraction(b, c)
        equal.append((f"{a} {b}/{c}", _frac_tex(mixed)))
        equal.append((f"{a}\\frac{{{b}}}{{{c}}}", _frac_tex(mixed)))
        near.append((f"{a} {b}/{c}", f"{a}{b}/{c}"))
        for wrong in (Fraction(int(f"{a}{b}"), c), Fraction(b, c), Fraction(a * b, c)):
            if wrong != mixed:
                near.append((f"{a} {b}/{c}", _frac_tex(wrong)))
        # Two numbers side by side are no product and no one number; a list is not its digits run together.
        x, y = r.randint(2, 99), r.randint(2, 99)
        near += [(f"{x} {y}", str(x * y)), (f"{x} {y}", f"{x}{y}"), (f"{x}, {y:03d}", f"{x}{y:03d}")]
        # Huge integers one off in the last digit; leading zeros and a plus sign are the same number.
        big = r.randint(10**25, 10**30)
        near.append((str(big), str(big + r.choice([-1, 1]))))
        equal += [(f"00{x}", str(x)), (f"+{x}", str(x)), (f"\u2212{x}", f"-{x}")]
        near += [(f"\u2212{x}", str(x)), (f"-{x}", f"+{x}")]
    return equal, near


def test_numbers_near_misses_rejected_and_equal_forms_accepted():
    equal, near = number_cases(SEED, _n(150))
    assert len(near) >= 1000
    accepted = _both_ways(near)
    assert not accepted, f"{len(accepted)} false accepts, e.g. {accepted[:5]}"
    rejected = [(p, g, sk.compare(p, g)) for p, g in equal if sk.compare(p, g) != "correct"]
    assert not rejected, f"{len(rejected)}/{len(equal)} equal forms rejected, e.g. {rejected[:5]}"


def test_slash_before_a_product_is_never_guessed():
    """`a/bc` is `(a/b)c` to some readers and `a/(bc)` to others: neither reading is ever `correct`."""
    r = random.Random(SEED + 9)
    x = sympy.Symbol("x")
    for _ in range(_n(100)):
        a, b = r.randint(1, 9), r.randint(2, 9)
        factor, value = r.choice([("x", x), ("\\pi", sympy.pi), ("\\sqrt{3}", sympy.sqrt(3)), ("(x+1)", x + 1)])
        left, right = sympy.Rational(a, b) * value, sympy.Rational(a, b) / value
        assert sympy.simplify(left - right) != 0
        text = f"{a}/{b}{factor}"
        for reading in (f"\\frac{{{a}}}{{{b}}}{factor}", f"\\frac{{{a}}}{{{b}{factor}}}"):
            assert sk.compare(text, reading) != "correct", (text, reading)
            assert sk.compare(reading, text) != "correct", (reading, text)
        # Brackets decide it.
        assert sk.compare(f"({a}/{b}){factor}", f"\\frac{{{a}}}{{{b}}}{factor}") == "correct"
        assert sk.compare(f"{a}/({b}{factor})", f"\\frac{{{a}}}{{{b}{factor}}}") == "correct"


def test_false_computations_state_nothing():
    """`a op b = c` commits to `c` only when the computation holds (exact arithmetic as the oracle)."""
    r = random.Random(SEED + 11)
    for _ in range(_n(150)):
        a, b = r.randint(1, 99), r.randint(1, 99)
        op, value = r.choice([("+", a + b), ("-", a - b), ("\\cdot", a * b), ("\\times", a * b)])
        wrong = value + r.choice([-10, -1, 1, 2, 10])
        assert sk.compare(f"{a} {op} {b} = {value}", str(value)) == "correct"
        assert sk.compare(f"{a} {op} {b} = {wrong}", str(wrong)) != "correct"
        assert sk.compare(f"{a} {op} {b} = {wrong}", str(value)) != "correct"
        assert sk.compare(str(wrong), f"{a} {op} {b} = {wrong}") != "correct"
        assert sk.compare(f"x = {a} {op} {b} = {wrong}", str(wrong)) != "correct"
        assert sk.compare(f"x = {a} {op} {b} = {value}", str(value)) == "correct"


# --- words after a number ------------------------------------------------------------------------------

VALUE_WORDS = [
    "thousand", "million", "hundred", "dozen", "half", "thirds", "fourths", "tenths", "hundredths", "squared",
    "cubed", "plus one", "minus two", "times five", "over three", "divided by two", "inverse", "reciprocal",
    "remainder 1", "negative", "is wrong", "is not the answer", "is incorrect", "not", "never", "wrong",
    "or so", "more than", "less than", "twice",
]  # fmt: skip
UNIT_WORDS = ["cm", "apples", "square units", "meters per second", "cm squared", "km/h", "dollars", "degrees"]


def test_words_that_change_or_judge_a_value_are_no_unit():
    r = random.Random(SEED + 1)
    near, equal = [], []
    for _ in range(_n(40)):
        v = r.randint(2, 999)
        for w in VALUE_WORDS:
            near += [(f"{v} \\text{{ {w}}}", str(v)), (f"{v} {w}", str(v)), (f"{v}\\,\\mathrm{{{w}}}", str(v))]
        for w in UNIT_WORDS:
            equal += [(f"{v} \\text{{ {w}}}", str(v)), (f"{v} {w}", str(v))]
    accepted = _both_ways(near)
    assert not accepted, f"{len(accepted)} false accepts, e.g. {accepted[:5]}"
    rejected = [(p, g) for p, g in equal if sk.compare(p, g) != "correct"]
    assert not rejected, rejected[:5]


# --- intervals, sets, points -----------------------------------------------------------------------------


def _interval_tex(lo, hi, lo_open: bool, hi_open: bool) -> str:
    def end(v):
        return "\\infty" if v == sympy.oo else "-\\infty" if v == -sympy.oo else str(v)

    return f"{'(' if lo_open else '['}{end(lo)}, {end(hi)}{')' if hi_open else ']'}"


def interval_cases(seed: int, n: int):
    """(pred, gold, equal) over unions of one to three intervals; the verdict is sympy's set equality."""
    r = random.Random(seed)
    out = []
    for _ in range(n):
        k = r.randint(1, 3)
        cuts = sorted(r.sample(range(-20, 21), 2 * k))
        pieces = []
        for j in range(k):
            lo, hi = cuts[2 * j], cuts[2 * j + 1]
            lo_open, hi_open = r.random() < 0.5, r.random() < 0.5
            if j == 0 and r.random() < 0.3:
                lo, lo_open = -sympy.oo, True
            if j == k - 1 and r.random() < 0.3:
                hi, hi_open = sympy.oo, True
            pieces.append((lo, hi, lo_open, hi_open))

        def tex(ps):
            return " \\cup ".join(_interval_tex(*p) for p in ps)

        def as_set(ps):
            return sympy.Union(*(sympy.Interval(lo, hi, lo_open, hi_open) for lo, hi, lo_open, hi_open in ps))

        gold = tex(pieces)
        variants = [list(reversed(pieces)), r.sample(pieces, len(pieces))]
        i = r.randrange(k)
        lo, hi, lo_open, hi_open = pieces[i]
        for change in ("lo_bracket", "hi_bracket", "lo", "hi", "drop"):
            ps = list(pieces)
            if change == "lo_bracket" and lo != -sympy.oo:
                ps[i] = (lo, hi, not lo_open, hi_open)
            elif change == "hi_bracket" and hi != sympy.oo:
                ps[i] = (lo, hi, lo_open, not hi_open)
            elif change == "lo" and lo != -sympy.oo:
                ps[i] = (lo - 1, hi, lo_open, hi_open)
            elif change == "hi" and hi != sympy.oo:
                ps[i] = (lo, hi + 1, lo_open, hi_open)
            elif change == "drop" and k > 1:
                ps = ps[:i] + ps[i + 1 :]
            variants.append(ps)
        for ps in variants:
            out.append((tex(ps), gold, as_set(ps) == as_set(pieces)))
        # One interval against the list or set of its endpoints (a point only in round brackets).
        if k == 1 and lo != -sympy.oo and hi != sympy.oo and (lo_open, hi_open) != (True, True):
            out += [(f"{lo}, {hi}", gold, False), (f"\\{{{lo}, {hi}\\}}", gold, False)]
    return out


def test_intervals_and_unions_against_sympy():
    cases = interval_cases(SEED + 2, _n(250))
    assert len(cases) >= 1500
    false_accepts = [(p, g) for p, g, eq in cases if not eq and "correct" in (sk.compare(p, g), sk.compare(g, p))]
    assert not false_accepts, f"{len(false_accepts)} false accepts, e.g. {false_accepts[:5]}"
    missed = [(p, g) for p, g, eq in cases if eq and sk.compare(p, g) != "correct"]
    assert not missed, f"{len(missed)} equal unions rejected, e.g. {missed[:5]}"


def test_named_coordinates_are_a_point_in_name_order():
    r = random.Random(SEED + 3)
    names = ["x", "y", "z"]
    near, equal = [], []
    for _ in range(_n(150)):
        k = r.randint(2, 3)
        vals = [r.randint(-9, 9) for _ in range(k)]
        if len(set(vals)) < k:
            continue
        order = r.sample(range(k), k)
        named = ", ".join(f"{names[j]} = {vals[j]}" for j in order)
        point = "(" + ", ".join(map(str, vals)) + ")"
        equal.append((named, point))
        shuffled = r.sample(vals, k)
        if shuffled != vals:
            near.append((named, "(" + ", ".join(map(str, shuffled)) + ")"))
        # The same name twice is a list of roots, no gold point.
        near.append((" \\text{ or } ".join(f"x = {v}" for v in vals), point))
    accepted = [(p, g) for p, g in near if sk.compare(p, g) == "correct"]
    assert not accepted, accepted[:5]
    rejected = [(p, g) for p, g in equal if sk.compare(p, g) != "correct" or sk.compare(g, p) != "correct"]
    assert not rejected, rejected[:5]


def test_matrices_one_entry_transposed_reshaped():
    r = random.Random(SEED + 4)
    near, equal = [], []

    def tex(m, env="pmatrix"):
        return f"\\begin{{{env}}}" + " \\\\ ".join(" & ".join(map(str, row)) for row in m) + f"\\end{{{env}}}"

    for _ in range(_n(150)):
        rows, cols = r.randint(1, 3), r.randint(2, 3)
        m = [[r.randint(-9, 9) for _ in range(cols)] for _ in range(rows)]
        equal.append((tex(m), tex(m, "bmatrix")))
        changed = [row[:] for row in m]
        i, j = r.randrange(rows), r.randrange(cols)
        changed[i][j] += r.choice([-1, 1])
        near.append((tex(changed), tex(m)))
        t = [list(c) for c in zip(*m)]
        if t != m:
            near.append((tex(t), tex(m)))
        flat = [x for row in m for x in row]
        if rows > 1:
            near.append((tex([flat]), tex(m)))
            near.append(("(" + ", ".join(map(str, flat)) + ")", tex(m)))
    accepted = _both_ways(near)
    assert not accepted, accepted[:5]
    assert all(sk.compare(p, g) == "correct" for p, g in equal)


# --- multiple choice -------------------------------------------------------------------------------------


def test_multiple_choice_spellings_and_two_options():
    r = random.Random(SEED + 5)
    letters = "ABCDE"
    near, equal = [], []
    for _ in range(_n(60)):
        c = r.choice(letters)
        d = r.choice([x for x in letters if x != c])
        v = r.randint(1, 99)
        equal += [(s, c) for s in (f"({c})", f"{c})", f"Option {c}", f"\\text{{({c})}}", f"({c}) {v}", c.lower())]
        near += [(s, c) for s in (d, f"({d})", f"Option {d}", f"{d}) {v}")]
        for joint in (f"{c} or {d}", f"{d} or {c}", f"{c} and {d}", f"({c}), ({d})", f"{c}/{d}", f"{c}, {d}",
                      f"{c} or not {c}", f"({c}) or ({d})", f"{c} \\text{{ or }} {d}", f"{c}{d}", "ABCDE",
                      f"({c}){d}", f"{c}){d}", f"({c}){d}{v}"):  # fmt: skip
            near.append((joint, c))
    accepted = [(p, g) for p, g in near if sk.compare(p, g) == "correct"]
    assert not accepted, accepted[:5]
    rejected = [(p, g) for p, g in equal if sk.compare(p, g) != "correct"]
    assert not rejected, rejected[:5]


# --- commitment: what a policy could learn to write ------------------------------------------------------


def commitment_cases(seed: int, n: int) -> list[tuple[str, str]]:
    """(completion, gold) pairs that must never be ``correct``: the completion commits to another value,
    to two values, or to none."""
    r = random.Random(seed)
    out = []
    for _ in range(n):
        g = r.randint(2, 500)
        w = g + r.choice([-7, -1, 1, 3, 10])
        a, b = r.sample([g, w], 2)
        out += [
            (f"So the answer is $\\boxed{{{a}}}$ or $\\boxed{{{b}}}$.", str(g)),
            (f"The answer is {a} or maybe {b}.", str(g)),
            (f"The answer is either {a} or {b}.", str(g)),
            (f"**Answer:** {a}, {b}", str(g)),
            (f"Thus $\\boxed{{{a} \\text{{ or }} {b}}}$.", str(g)),
            (f"Thus $\\boxed{{\\pm {g}}}$.", str(g)),
            (f"Thus $\\boxed{{x = {g} \\text{{ or }} x = -{g}}}$.", str(g)),
            (f"<think>the answer is \\boxed{{{g}}}</think> The answer is $\\boxed{{{w}}}$.", str(g)),
            (f"<think>so it is \\boxed{{{g}}}", str(g)),
            (f'The question says "is it \\boxed{{{g}}}?". The answer is {w}.', str(g)),
            (f"The answer is $\\boxed{{{g}}}$. Wait, that is wrong: $\\boxed{{{w}}}$.", str(g)),
            (f"Answer: {g}\nAnswer: {w}", str(g)),
            (f"#### {g}\n#### {w}", str(g)),
            ("The answer is $\\boxed{}$.", str(g)),
            (f"The answer is $\\boxed{{{g}+1}}$.", str(g)),
            (f"The answer is $\\boxed{{{g} {w}}}$.", str(g)),
            (f"The answer is $\\boxed{{{g} \\text{{ is wrong}}}}$.", str(g)),
            (f"The answer is $\\boxed{{{g} \\text{{ thousand}}}}$.", str(g)),
            (f"The answer is $\\boxed{{{g}!!}}$.", str(g)),
            (f"\\boxed{{{g}", str(g)),
        ]
    return out


def test_commitment_hacks_are_never_rewarded():
    cases = commitment_cases(SEED + 6, _n(60))
    comps, golds = [c for c, _ in cases], [g for _, g in cases]
    batch = sk.check_batch(comps, golds)
    statuses = batch.column("status").to_pylist()
    accepted = [(c, g) for (c, g), s in zip(cases, statuses) if s == "correct"]
    assert not accepted, f"{len(accepted)} hacks rewarded, e.g. {accepted[:5]}"
    # The batch and single checks agree, and the corrected answer is the one read.
    assert [sk.check(c, g).status for c, g in cases[:200]] == statuses[:200]
    assert sk.check("The answer is $\\boxed{3}$. Wait, that is wrong: $\\boxed{4}$.", "4").correct


# --- constants and complex branches ----------------------------------------------------------------------

CONSTANTS = ["\\pi", "\\sqrt{3}", "\\sqrt{2}", "\\ln 2", "e^{2}", "\\sqrt[3]{5}", "\\frac{\\pi}{4}", "2\\pi"]


def test_rounded_constants_only_within_rel_tol():
    """A value rounded to k significant digits is accepted only where the rounding is within rel_tol."""
    exprs = {
        "\\pi": sympy.pi, "\\sqrt{3}": sympy.sqrt(3), "\\sqrt{2}": sympy.sqrt(2), "\\ln 2": sympy.log(2),
        "e^{2}": sympy.E**2, "\\sqrt[3]{5}": sympy.cbrt(5), "\\frac{\\pi}{4}": sympy.pi / 4, "2\\pi": 2 * sympy.pi,
    }  # fmt: skip
    bad, missed = [], []
    for tex, val in exprs.items():
        exact = sympy.N(val, 40)
        for k in range(2, 17):
            text = str(sympy.Float(exact, k))
            dv = sympy.Rational(text)
            rel = abs((dv - exact) / exact)
            status = sk.compare(text, tex)
            if rel > 2e-8 and status == "correct":
                bad.append((text, tex, float(rel)))
            if rel < 1e-9 and status != "correct":
                missed.append((text, tex, float(rel), status))
    assert not bad, f"human roundings accepted at rel_tol 1e-8: {bad[:5]}"
    assert not missed, f"roundings within rel_tol rejected: {missed[:5]}"
    assert sk.compare("3.14", "\\pi") == "incorrect" and sk.compare("3.14", "\\pi", rel_tol=1e-3) == "correct"


def test_roots_of_negatives_take_the_principal_branch():
    r = random.Random(SEED + 7)
    for _ in range(_n(60)):
        n = r.randint(1, 60)
        principal = sympy.sqrt(-n)  # i*sqrt(n), sympy's principal value
        root = sympy.sqrt(n)
        tex = f"{root}i" if root.is_Integer else f"i\\sqrt{{{n}}}"
        assert principal == sympy.I * root
        assert sk.compare(f"\\sqrt{{-{n}}}", tex) == "correct", n
        assert sk.compare(f"\\sqrt{{-{n}}}", f"-{tex}") != "correct", n
        assert sk.compare(f"(-{n})^{{1/2}}", f"-{tex}") != "correct", n


# --- hostile input through every entry point --------------------------------------------------------------

TOKENS = [
    "\\frac", "\\dfrac", "\\sqrt", "\\boxed{", "\\fbox{", "\\text{", "\\mathrm{", "\\left(", "\\right)", "\\{", "\\}",
    "{", "}", "(", ")", "[", "]", "^", "_", "!", "!!", "%", "\\%", "'", "\\pi", "\\infty", "e", "i", "x", "C", "(C)",
    "0", "1", "9", "1234567890123", "0.5", ".5", "1e308", "1e-400", "2.4e8", ",", ";", ":", "=", "<", "\\le", "\\ne",
    "\\pm", "+", "-", "\u2212", "**", "/", "\\cdot", "|", "\\log", "\\ln", "\\log_", "\\sin", "\\tan^{-1}", "\\binom",
    "\\choose", "\\lfloor", "\\rfloor", "\\gcd", "\\max", "\\bmod", "\\pmod", "\\begin{pmatrix}", "\\end{pmatrix}",
    "&", "\\\\", "\\cup", "\\emptyset", "\u2205", "\u221e", "\u221a", "\u03c0", "\u2264", "\u00b0", "^\\circ",
    "\\overline{", "\\operatorname{", " or ", " and ", " ", "\n", "$", "$$", "\\(", "\\)", "\\[", "\\]",
    "The answer is ", "Answer:", "####", "Final Answer: The final answer is ", "I hope it is correct.", "<think>",
    "</think>", "...", ".", "?", "cm", " thousand", "\u200b", "\ufeff", "\u212b", "\u00bd", "\u00b2", "\x00",
    "\ud800", "\U0001d7d8", "\u0661", "\\mathbb{R}", "\\in", "\\approx", "\\equiv", "\\,", "\\!", "~", "\\", "#",
]  # fmt: skip

_text = st.lists(st.one_of(st.sampled_from(TOKENS), st.characters()), max_size=30).map("".join)


# Golds that are pairwise different answers, with no pair that a documented convention relates (no two
# numbers a factor 100 apart, which the percent policy joins; no option letters, congruences or bare lists).
DISTINCT_GOLDS = [
    "4", "5", "-4", "0", "\\frac12", "2", "\\pi", "\\sqrt2", "x", "2x", "x+1", "x^2", "(1,2)", "(2,1)", "[1,2]",
    "(1,2]", "x>2", "x\\ge2", "x<2", "y=2x+1", "y=2x", "\\infty", "-\\infty", "\\emptyset", "2i", "-2i", "e^2",
    "\\ln 2", "1000", "\\text{yes}", "\\text{no}", "x=1", "x=2", "a<b", "a>b", "2\\sqrt2", "3\\sqrt2",
    "\\frac{\\pi}{2}", "\\frac{1}{2\\pi}", "7/3", "21/3", "20", "45", "1234", "\\{1,3\\}",
    "\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}", "\\sin x", "\\cos x",
]  # fmt: skip


def test_no_answer_equals_two_different_golds():
    """Transitivity as the oracle: an answer accepted against two golds that differ from each other is a
    false accept against one of them, whatever the answer is (random tokens and golds glued together)."""
    golds = DISTINCT_GOLDS
    differ = {(a, b) for a in golds for b in golds if a != b and sk.compare(a, b) == "incorrect"}
    assert len(differ) >= len(golds) * (len(golds) - 1) * 0.9
    r = random.Random(SEED + 10)
    pieces = TOKENS + golds * 3
    bad = []
    for _ in range(_n(1500)):
        p = "".join(r.choice(pieces) for _ in range(r.randint(1, 5)))
        accepted = [g for g in golds if sk.compare(p, g) == "correct"]
        bad += [(p, a, b) for i, a in enumerate(accepted) for b in accepted[i + 1 :] if (a, b) in differ]
    assert not bad, f"{len(bad)} answers accepted against two different golds, e.g. {bad[:5]}"


def _no_surrogates(s: str) -> str:
    return s.encode("utf-8", "replace").decode()


@fixed(300)
@given(c=_text, g=_text, cut=st.integers(0, 40))
def test_hostile_text_through_every_entry_point(c: str, g: str, cut: int):
    g = g or c[:cut]
    for rt, rm in ((1e-8, False), (1e-3, True)):
        v = sk.check(c, g, rel_tol=rt, require_marker=rm)
        assert v.status in STATUSES
        assert sk.compare(c, g, rel_tol=rt) in STATUSES
        assert sk.compare(g, c, rel_tol=rt) in STATUSES
    assert sk.compare(c, c) in STATUSES
    sk.normalize_answer(c)
    for rm in (False, True):
        e = sk.extract_answer(c, require_marker=rm)
        assert e is None or isinstance(e, str)
    t = sk.check_batch([c, g, None], [g, c, g])
    assert set(t.column("status").to_pylist()) <= STATUSES
    assert len(sk.verify_batch([c], [g])) == 1
    scored = sk.score(pa.table({"completion": [_no_surrogates(c)], "answer": [_no_surrogates(g)]}))
    assert scored.num_rows == 1


def test_hostile_seeded_family_batch_matches_single():
    """A seeded family of hostile pairs: the batch verdicts equal the single ones, with no exception."""
    r = random.Random(SEED + 8)

    def gen() -> str:
        return "".join(
            r.choice(TOKENS) if r.random() < 0.9 else chr(r.randint(1, 0x10FFFF)) for _ in range(r.randint(0, 30))
        )

    comps = [gen() for _ in range(_n(2000))]
    golds = [gen() if r.random() < 0.7 else c[: r.randint(0, len(c))] for c in comps]
    batch = sk.check_batch(comps, golds, threads=2).column("status").to_pylist()
    single = [sk.check(c, g).status for c, g in zip(comps, golds)]
    assert batch == single
    assert set(single) <= STATUSES
