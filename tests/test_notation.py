"""The notation real outputs and graders use (issue 10, section 4): seeded generators, sympy as the oracle.

Each category has a generator that draws values, renders them in the notations models and references
write, and pairs every rendering with the others (*equal forms*, which must be ``correct``) and with
renderings of a nearby different answer (*near misses*, which must never be ``correct``). The oracle is
sympy (or exact Python arithmetic) on the drawn values, not the renderings, so no pair's verdict is
written by hand:

- *names*: an answer line with a left side that names the quantity (``\\tan A = 2``, ``BC^2 = 19``,
  ``v(r) = ...``, ``(p, q) = (3, 2)``, ``S_{ABC}:S = 7:32``, ``x \\approx 600``) against the bare value, both
  ways; near misses: another value, and left sides that state a relation to solve (``2x + 1 = 5``, ``-x``,
  ``2^x``, ``x/2``), whose value is not the right side.
- *boxes*: an answer split over several boxes joined by connectives in the final sentence, against the
  gold list or set in any order; near misses: a value dropped or changed, a hedge (``\\boxed{a} or
  \\boxed{b}`` against ``a``), and a tentative box corrected later (the last box wins).
- *sets*: sets and lists with ``\\{..\\}``, bare braces, ``\\pm`` items (``\\{2 \\pm 1\\}``, ``\\pm 1, \\pm 7``)
  and the empty set in four spellings; near misses: an element dropped, added or changed, ``±`` read as ``+``.
- *relations*: linear inequalities in one variable (their solution sets solved by hand, held to sympy's
  ``solve_univariate_inequality`` on the first 40 draws of every run) written unsolved, solved, reversed, as intervals, with ASCII ``<=``/``>=``, ``\\le``/``\\leq``
  or ``≤``; ``|x - a| < b`` forms; linear relations in two variables scaled by a positive factor or negated
  with the relation flipped; ``!=``. Near misses: the bound moved, the relation made strict or not, the
  direction flipped (the classic sign error of multiplying by a negative number).
- *functions*: floor and ceiling, ``\\gcd``, ``\\operatorname{lcm}``, ``\\max``, ``\\min``, ``\\bmod``/``\\pmod``
  and congruences, ``{n \\choose k}``/``\\binom``, inverse hyperbolic functions (against their logarithm
  forms), ``**`` powers and ``\\ln xy``, each against exact Python values; near misses one off, or another
  function.
- *numbers*: thousands separators (``,``, ``{,}``, ``\\,``, ``,\\!``), ordinals (``12^{th}``, ``1st``,
  ``2^{\\text{nd}}``), units with exponents and slashes after a number; near misses: another digit, and
  letters after a number that are variables, not units (``2 xy`` is not 2).
- *expressions*: one arbitrary constant named differently (``C e^{-2t}`` vs ``c\\,e^{-2t}``, ``C_1`` vs ``K``)
  and linear differential equations rearranged (``I\\dot\\omega + 2B\\omega = T`` vs ``\\frac{d\\omega}{dt} =
  T/I - 2B\\omega/I``); near misses: the function changed (``C e^{2t}``), the constant added instead of
  multiplied, a term's sign flipped.

Gates: no near miss is ``correct``, and every equal form is. The conventions that are genuinely
ambiguous (a bare ``\\log``, a decimal comma) and the three soundness items (an unterminated ``<think>``,
answers over the size cap, a marker answer naming two options) are pinned below the generators.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import pytest

import stagekit as sk

sympy = pytest.importorskip("sympy")

SEED = 20261130
X, Y = sympy.symbols("x y")


@dataclass(frozen=True)
class Case:
    family: str
    how: str
    pred: str
    gold: str
    equal: bool
    #: ``compare``: pred and gold are extracted answers; ``check``: pred is a completion, gold a reference.
    kind: str = "compare"


def _verdict(c: Case) -> str:
    if c.kind == "check":
        return sk.check(c.pred, c.gold).status
    return sk.compare(c.pred, c.gold)


def _pairs(family: str, how: str, forms_a: list[str], forms_b: list[str], equal: bool, out: list[Case]) -> None:
    for a in forms_a:
        for b in forms_b:
            if a != b:
                out.append(Case(family, how, a, b, equal))
                out.append(Case(family, how, b, a, equal))


# ---------------------------------------------------------------------------------------------------------
# Values and their spellings.


def _frac(q: Fraction, style: str = "frac") -> str:
    if q.denominator == 1:
        return str(q.numerator)
    sign = "-" if q < 0 else ""
    n, d = abs(q.numerator), q.denominator
    return {
        "frac": f"{sign}\\frac{{{n}}}{{{d}}}",
        "dfrac": f"{sign}\\dfrac{{{n}}}{{{d}}}",
        "slash": f"{sign}{n}/{d}",
    }[style]


def _decimal(q: Fraction) -> str | None:
    """The exact decimal of a rational, where it terminates (with a fractional part: `3.5`, not `3`)."""
    for k in range(1, 12):
        scaled = abs(q) * 10**k
        if scaled.denominator == 1:
            digits = str(scaled.numerator).rjust(k + 1, "0")
            body = f"{digits[:-k]}.{digits[-k:]}".rstrip("0").rstrip(".")
            return ("-" if q < 0 else "") + body
    return None


def _rational_forms(q: Fraction) -> list[str]:
    forms = {_frac(q), _frac(q, "dfrac"), _frac(q, "slash")}
    if (d := _decimal(q)) is not None:
        forms.add(d)
    return sorted(forms)


def _value(rng: random.Random):
    """(sympy value, its renderings): an integer, a fraction or a radical."""
    kind = rng.choice(["int", "int", "frac", "radical"])
    if kind == "int":
        n = rng.randint(-60, 400)
        return sympy.Integer(n), _rational_forms(Fraction(n))
    if kind == "frac":
        q = Fraction(rng.randint(-40, 40) or 7, rng.choice([2, 3, 4, 5, 8, 12]))
        return sympy.Rational(q.numerator, q.denominator), _rational_forms(q)
    k, m = rng.randint(1, 6), rng.choice([2, 3, 5, 6, 7, 10, 11])
    forms = [f"{k}\\sqrt{{{m}}}" if k > 1 else f"\\sqrt{{{m}}}", f"\\sqrt{{{k * k * m}}}"]
    if k > 1 and m < 10:
        forms.append(f"{k}\\sqrt {m}")  # `\sqrt 11` is `\sqrt{1}1`: one digit only
    return k * sympy.sqrt(m), forms


def _latex(e) -> str:
    return sympy.latex(e, ln_notation=True)


# ---------------------------------------------------------------------------------------------------------
# 1. Answer lines with a left-hand side.

#: Left sides that name a quantity (the answer commits to the right side's value).
NAMES = [
    "x", "y", "a_n", "a_{10}", "BC", "AB^2", "BC^{2}", "\\tan A", "\\sin\\theta", "f(2)", "v(r)", "|AB|",
    "\\overline{AB}", "m\\angle ABC", "\\frac{a}{b}", "P(A)", "x'", "\\alpha", "S_{ABC}", "xy", "\\log_2 x",
    "\\sqrt{x}", "g(x, y)", "E[X]",
]
#: Left sides that state a relation to solve, with the variable's value as a function of the right side.
RELATIONS_TO_SOLVE = [
    ("2x + 1", lambda v: (v - 1) / 2),
    ("x + 3", lambda v: v - 3),
    ("-x", lambda v: -v),
    ("3x", lambda v: v / 3),
    ("\\frac{x}{2}", lambda v: 2 * v),
    ("x - 1", lambda v: v + 1),
    ("2^x", lambda v: sympy.log(v, 2) if v > 0 else None),
]


def _names(rng: random.Random, n: int) -> list[Case]:
    out: list[Case] = []
    for _ in range(n):
        v, forms = _value(rng)
        name = rng.choice(NAMES)
        sep = rng.choice(["=", " = ", "\\approx" if v.is_Integer else "="])
        named = [f"{name}{sep}{f}" for f in forms[:2]]
        if v.is_Integer:
            # A chain whose last side is the value: `BC^2 = 9 + 10 = 19`.
            named.append(f"{name} = {v - 7} + 7 = {v}")
        _pairs("names", "named value", named, forms, True, out)
        w, wforms = _value(rng)
        if sympy.simplify(w - v) != 0:
            _pairs("names", "another value", named, wforms, False, out)
        # `BC = \sqrt{19}` is not `BC^2 = 19`'s 19.
        if v.is_Integer and v > 1 and not sympy.sqrt(v).is_Integer:
            _pairs("names", "squared name", [f"BC = \\sqrt{{{v}}}"], [str(v)], False, out)
        lhs, solve = rng.choice(RELATIONS_TO_SOLVE)
        sol = solve(v)
        if sol is not None and sympy.simplify(sympy.sympify(sol) - v) != 0:
            _pairs("names", "relation to solve", [f"{lhs} = {f}" for f in forms[:2]], forms, False, out)
    # A power or function of a name with a right side in variables is a curve, not a named value.
    for _ in range(n // 4):
        k, m = rng.randint(2, 9), rng.randint(-9, 9)
        curve = rng.choice(["y^2", "\\sin y", "|y|", "y^{3}", "\\sqrt{y}", "\\tan y"])
        rhs = [_lin(k, m), f"{m} + {k}x" if m else f"{k}x"]
        _pairs("names", "curve", [f"{curve} = {r}" for r in rhs], rhs, False, out)
    # Tuples and ratios of names.
    for _ in range(n // 4):
        a, b = rng.randint(-9, 20), rng.randint(-9, 20)
        names = rng.choice(["(p, q)", "(x,y)", "(a, b)", "(m,n)"])
        _pairs("names", "tuple name", [f"{names} = ({a}, {b})", f"{names}=({a},{b})"], [f"({a}, {b})"], True, out)
        if a != b:
            _pairs("names", "tuple swapped", [f"{names} = ({b}, {a})"], [f"({a}, {b})"], False, out)
        p, q = rng.randint(1, 40), rng.randint(1, 40)
        ratio = rng.choice(["S_{MBCN}:S", "AB:BC", "a:b", "V_1 : V_2"])
        _pairs("names", "ratio name", [f"{ratio} = {p}:{q}", f"{ratio}={p} : {q}"], [f"{p}:{q}"], True, out)
        if p != q:
            _pairs("names", "ratio swapped", [f"{ratio} = {q}:{p}"], [f"{p}:{q}"], False, out)
    return out


# ---------------------------------------------------------------------------------------------------------
# 2. An answer split over several boxes.

CONNECTIVES = [", ", " and ", ", and ", "$, $", "$ and $", " \\text{ and } ", "; ", " or ", "$ or $"]


def _boxes(rng: random.Random, n: int) -> list[Case]:
    out: list[Case] = []
    for _ in range(n):
        k = rng.randint(2, 4)
        kind = rng.choice(["int", "pair", "frac"])
        vals: list[str] = []
        while len(vals) < k:
            v = {
                "int": lambda: str(rng.randint(-20, 20)),
                "pair": lambda: f"({rng.randint(-9, 9)}, {rng.randint(-9, 9)})",
                "frac": lambda: _frac(Fraction(rng.randint(-9, 9) or 1, rng.choice([2, 3, 5]))),
            }[kind]()
            if v not in vals:
                vals.append(v)
        label = rng.random() < 0.3 and kind == "int"
        boxes = [f"x = \\boxed{{{v}}}" if label else f"\\boxed{{{v}}}" for v in vals]
        text = boxes[0]
        for b in boxes[1:]:
            text += rng.choice(CONNECTIVES) + b
        completion = rng.choice(["So the answers are ", "Therefore $", "The solutions are $"]) + text + rng.choice([".", "$.", ""])
        completion = completion.replace("$$", "$")
        golds = [", ".join(vals), ", ".join(reversed(vals))]
        if kind != "pair":
            golds.append("\\{" + ", ".join(rng.sample(vals, len(vals))) + "\\}")
        for g in golds:
            out.append(Case("boxes", "joined boxes", completion, g, True, "check"))
        # One value dropped, one changed.
        out.append(Case("boxes", "value dropped", completion, ", ".join(vals[:-1]), False, "check"))
        changed = vals[:-1] + [vals[-1].replace("(", "(1") if kind == "pair" else f"{vals[-1]} + 1"]
        out.append(Case("boxes", "value changed", completion, ", ".join(changed), False, "check"))
        # A hedge between two boxes commits to both, so neither alone.
        out.append(Case("boxes", "hedge", f"It is $\\boxed{{{vals[0]}}}$ or $\\boxed{{{vals[1]}}}$.", vals[0], False, "check"))
        out.append(Case("boxes", "hedge", f"It is $\\boxed{{{vals[0]}}}$ or $\\boxed{{{vals[1]}}}$.", vals[1], False, "check"))
        # A tentative box corrected later: the last box is the answer.
        corrected = f"First I get $\\boxed{{{vals[0]}}}$. {rng.choice(['Wait', 'Hmm, no', 'Actually'])}, it is $\\boxed{{{vals[1]}}}$."
        out.append(Case("boxes", "corrected", corrected, vals[1], True, "check"))
        out.append(Case("boxes", "corrected", corrected, vals[0], False, "check"))
        out.append(Case("boxes", "corrected", corrected, f"{vals[0]}, {vals[1]}", False, "check"))
    return out


# ---------------------------------------------------------------------------------------------------------
# 3. Sets.


def _set_forms(vals: list[Fraction], rng: random.Random) -> list[str]:
    items = [_frac(v) for v in vals]
    if not items:
        return ["\\emptyset", "\\varnothing", "∅", "\\{\\}", "\\{ \\}"]
    forms = ["\\{" + ", ".join(items) + "\\}", "\\left\\{" + ",".join(rng.sample(items, len(items))) + "\\right\\}"]
    if len(items) >= 2:
        forms += ["{" + ", ".join(rng.sample(items, len(items))) + "}", ", ".join(rng.sample(items, len(items)))]
    # ± pairs: `\pm a` for a symmetric pair, `c \pm d` for any pair.
    pos = sorted({abs(v) for v in vals if v != 0 and -v in vals})
    rest = [v for v in vals if abs(v) not in pos]
    if pos:
        pm = [f"\\pm {_frac(p)}" for p in pos] + [_frac(v) for v in rest]
        forms.append(", ".join(pm))
        forms.append("\\{" + ", ".join(pm) + "\\}")
    if len(vals) == 2 and vals[0] != vals[1]:
        c, d = (vals[0] + vals[1]) / 2, abs(vals[0] - vals[1]) / 2
        forms.append(f"\\{{{_frac(c)} \\pm {_frac(d)}\\}}")
    return forms


def _sets(rng: random.Random, n: int) -> list[Case]:
    out: list[Case] = []
    _pairs("sets", "empty", _set_forms([], rng), _set_forms([], rng), True, out)
    for _ in range(n):
        k = rng.randint(1, 4)
        vals: list[Fraction] = []
        while len(vals) < k:
            v = Fraction(rng.randint(-12, 12), rng.choice([1, 1, 1, 2, 3]))
            if v not in vals:
                vals.append(v)
        if rng.random() < 0.5 and vals[0] != 0 and -vals[0] not in vals:
            vals.append(-vals[0])  # a ± pair
        forms = _set_forms(vals, rng)
        _pairs("sets", "same set", forms, forms, True, out)
        misses = [vals[:-1], vals + [max(vals) + 1], vals[:-1] + [vals[-1] + Fraction(1, 2)]]
        for m in misses:
            if sorted(m) != sorted(vals) and len(set(m)) == len(m):
                _pairs("sets", "another set", forms[:3], _set_forms(m, rng)[:3], False, out)
        if len(vals) == 2:
            c, d = (vals[0] + vals[1]) / 2, abs(vals[0] - vals[1]) / 2
            if d != 0:
                _pairs("sets", "± as +", [f"\\{{{_frac(c)} \\pm {_frac(d)}\\}}"], [_frac(c + d)], False, out)
        if vals:
            _pairs("sets", "empty vs not", ["\\emptyset", "∅"], forms[:2], False, out)
    return out


# ---------------------------------------------------------------------------------------------------------
# 4. Relations.

SYM = {"<": sympy.Lt, "<=": sympy.Le, ">": sympy.Gt, ">=": sympy.Ge}
FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
SPELL = {
    "<": ["<", "\\lt "],
    ">": [">", "\\gt "],
    "<=": ["\\le ", "\\leq ", "<=", "≤", "\\leqslant "],
    ">=": ["\\ge ", "\\geq ", ">=", "≥"],
}


def _lin(a: int, b: int, v: str = "x") -> str:
    """`a x + b` in LaTeX."""
    if a == 0:
        return str(b)
    head = v if a == 1 else f"-{v}" if a == -1 else f"{a}{v}"
    return head if b == 0 else f"{head} + {b}" if b > 0 else f"{head} - {-b}"


def _solution_forms(s, rng: random.Random) -> list[str]:
    """An interval sympy computed, as a solved inequality and as interval notation."""
    if isinstance(s, sympy.Interval):
        lo, hi = s.start, s.end
        if lo == -sympy.oo:
            r = "<=" if not s.right_open else "<"
            h = _latex(hi)
            return [f"x {rng.choice(SPELL[r])} {h}", f"{h} {rng.choice(SPELL[FLIP[r]])} x", f"(-\\infty, {h}{']' if r == '<=' else ')'}"]
        if hi == sympy.oo:
            r = ">=" if not s.left_open else ">"
            lo_s = _latex(lo)
            return [f"x {rng.choice(SPELL[r])} {lo_s}", f"{lo_s} {rng.choice(SPELL[FLIP[r]])} x", f"{'[' if r == '>=' else '('}{lo_s}, \\infty)"]
        lb, rb = ("(" if s.left_open else "["), (")" if s.right_open else "]")
        r1, r2 = ("<" if s.left_open else "<="), ("<" if s.right_open else "<=")
        return [
            f"{_latex(lo)} {rng.choice(SPELL[r1])} x {rng.choice(SPELL[r2])} {_latex(hi)}",
            f"{lb}{_latex(lo)}, {_latex(hi)}{rb}",
            f"x \\in {lb}{_latex(lo)}, {_latex(hi)}{rb}",
        ]
    if isinstance(s, sympy.Union) and len(s.args) == 2:
        a, b = s.args
        fa, fb = _solution_forms(a, rng), _solution_forms(b, rng)
        return [f"{fa[0]} \\text{{ or }} {fb[0]}", f"{fa[2]} \\cup {fb[2]}"]
    return []


def _moved(s, rng: random.Random):
    """A nearby different interval: a bound moved, or an end made closed or open."""
    if isinstance(s, sympy.Interval):
        lo, hi = s.start, s.end
        how = rng.choice(["bound", "closure", "direction"])
        if how == "bound":
            d = sympy.Rational(rng.choice([1, -1]), rng.choice([1, 2]))
            return sympy.Interval(lo + d if lo != -sympy.oo else lo, hi + d if hi != sympy.oo else hi, s.left_open, s.right_open)
        if how == "closure":
            return sympy.Interval(lo, hi, not s.left_open if lo != -sympy.oo else True, not s.right_open if hi != sympy.oo else True)
        if lo == -sympy.oo:
            return sympy.Interval(hi, sympy.oo, s.right_open, True)
        if hi == sympy.oo:
            return sympy.Interval(-sympy.oo, lo, True, s.left_open)
    return None


def _solve(lhs, r: str, rhs):
    """The solution set (a sympy set) of `lhs REL rhs` for `lhs`, `rhs` linear in x, by hand (sympy's
    solver takes ~50 ms a call; `_checked_solve` holds this to it)."""
    diff = sympy.expand(lhs - rhs)
    a, b = diff.coeff(X, 1), diff.coeff(X, 0)
    bound = -b / a
    r = r if a > 0 else FLIP[r]
    return {
        "<": sympy.Interval.open(-sympy.oo, bound),
        "<=": sympy.Interval(-sympy.oo, bound),
        ">": sympy.Interval.open(bound, sympy.oo),
        ">=": sympy.Interval(bound, sympy.oo),
    }[r]


def _solve_abs(inner, r: str, k):
    """The solution set of `|inner| REL k`, `inner` linear in x, `k > 0`."""
    if r in ("<", "<="):
        return _solve(-k, r, inner).intersect(_solve(inner, r, k))
    return _solve(inner, {">": "<", ">=": "<="}[r], -k).union(_solve(inner, r, k))


_SYMPY_CHECKS = [0]


def _checked_solve(lhs, r: str, rhs, absolute: bool = False):
    """`_solve` (of `|lhs| REL rhs` with `absolute`), held to sympy's `solve_univariate_inequality` on the
    first draws of every run."""
    got = _solve_abs(lhs, r, rhs) if absolute else _solve(lhs, r, rhs)
    if _SYMPY_CHECKS[0] < 40:
        _SYMPY_CHECKS[0] += 1
        want = sympy.solve_univariate_inequality(SYM[r](sympy.Abs(lhs) if absolute else lhs, rhs), X, relational=False)
        assert got == want, (lhs, r, rhs, got, want)
    return got


def _relations(rng: random.Random, n: int) -> list[Case]:
    out: list[Case] = []
    for _ in range(n):
        a, b, c, d = (rng.randint(-9, 9) for _ in range(4))
        if a == c:
            a += 1
        r = rng.choice(list(SYM))
        sol = _checked_solve(a * X + b, r, c * X + d)
        unsolved = [
            f"{_lin(a, b)} {rng.choice(SPELL[r])} {_lin(c, d)}",
            f"{_lin(c, d)} {rng.choice(SPELL[FLIP[r]])} {_lin(a, b)}",
            # Both sides times a positive factor.
            f"{_lin(2 * a, 2 * b)} {rng.choice(SPELL[r])} {_lin(2 * c, 2 * d)}",
        ]
        solved = _solution_forms(sol, rng)
        _pairs("relations", "linear", unsolved, solved, True, out)
        _pairs("relations", "linear", unsolved[:1], unsolved[1:], True, out)
        # The sign error: both sides times -1 without flipping the relation.
        wrong = _checked_solve(-a * X - b, r, -c * X - d)
        if wrong != sol:
            _pairs("relations", "sign error", [f"{_lin(-a, -b)} {rng.choice(SPELL[r])} {_lin(-c, -d)}"], solved + unsolved[:1], False, out)
        moved = _moved(sol, rng)
        if moved is not None and moved != sol:
            _pairs("relations", "moved", unsolved[:2] + solved[:1], _solution_forms(moved, rng), False, out)
        # |x - m| < k and its interval; |x - m| > k and its union.
        m, k = rng.randint(-6, 6), rng.randint(1, 7)
        for rr in ("<", "<=", ">", ">="):
            s = _checked_solve(X - m, rr, k, absolute=True)
            absf = [f"|{_lin(1, -m)}| {rng.choice(SPELL[rr])} {k}", f"{k} {rng.choice(SPELL[FLIP[rr]])} \\left|{_lin(-1, m)}\\right|"]
            _pairs("relations", "absolute value", absf, _solution_forms(s, rng), True, out)
            other = "<" if rr != "<" else "<="
            s2 = _checked_solve(X - m, other, k, absolute=True)
            _pairs("relations", "absolute value moved", absf[:1], _solution_forms(s2, rng)[:2], False, out)
        # `|a x + b| REL k` and `lo < a x + b < hi`, any sign of a.
        a2, b2, k3 = rng.choice([-4, -3, -2, 2, 3, 5]), rng.randint(-9, 9), rng.randint(1, 9)
        for rr in ("<", ">="):
            s = _checked_solve(a2 * X + b2, rr, k3, absolute=True)
            _pairs("relations", "absolute value", [f"\\left|{_lin(a2, b2)}\\right| {rng.choice(SPELL[rr])} {k3}"], _solution_forms(s, rng), True, out)
            s3 = _checked_solve(a2 * X + b2 + 1, rr, k3, absolute=True)
            if s3 != s:
                _pairs("relations", "absolute value moved", [f"|{_lin(a2, b2)}| {rng.choice(SPELL[rr])} {k3}"], _solution_forms(s3, rng)[:2], False, out)
        lo3, hi3 = sorted(rng.sample(range(-12, 13), 2))
        r1, r2 = rng.choice(["<", "<="]), rng.choice(["<", "<="])
        s = _checked_solve(sympy.Integer(lo3), r1, a2 * X + b2).intersect(_checked_solve(a2 * X + b2, r2, sympy.Integer(hi3)))
        chain = f"{lo3} {rng.choice(SPELL[r1])} {_lin(a2, b2)} {rng.choice(SPELL[r2])} {hi3}"
        _pairs("relations", "chain", [chain], _solution_forms(s, rng), True, out)
        s4 = _moved(s, rng)
        if s4 is not None and s4 != s:
            _pairs("relations", "chain moved", [chain], _solution_forms(s4, rng), False, out)
        # Two variables: scaled by a positive factor or negated with the relation flipped.
        p, q, t = rng.randint(1, 9), rng.choice([-7, -3, -1, 1, 2, 5]), rng.randint(-9, 9)
        base = f"{p}x {'+' if q > 0 else '-'} {abs(q)}y {rng.choice(SPELL[r])} {t}"
        k2 = rng.randint(2, 4)
        same = [
            f"{k2 * p}x {'+' if q > 0 else '-'} {abs(k2 * q)}y {rng.choice(SPELL[r])} {k2 * t}",
            f"{t} {rng.choice(SPELL[FLIP[r]])} {p}x {'+' if q > 0 else '-'} {abs(q)}y",
            f"{-p}x {'-' if q > 0 else '+'} {abs(q)}y {rng.choice(SPELL[FLIP[r]])} {-t}",
            f"{p}x {rng.choice(SPELL[r])} {t} {'-' if q > 0 else '+'} {abs(q)}y",
        ]
        _pairs("relations", "two variables", [base], same, True, out)
        unflipped = f"{-p}x {'-' if q > 0 else '+'} {abs(q)}y {rng.choice(SPELL[r])} {-t}"
        strict = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}[r]
        _pairs("relations", "two variables sign error", [base], [unflipped, f"{p}x {'+' if q > 0 else '-'} {abs(q)}y {rng.choice(SPELL[strict])} {t}"], False, out)
        _pairs("relations", "two variables moved", [base], [f"{p}x {'+' if q > 0 else '-'} {abs(q)}y {rng.choice(SPELL[r])} {t + 1}"], False, out)
        # `!=`.
        _pairs("relations", "not equal", [f"x != {m}", f"x \\ne {m}", f"x \\neq {m}", f"x ≠ {m}"], [f"x \\ne {m}"], True, out)
        _pairs("relations", "not equal moved", [f"x != {m}"], [f"x \\ne {m + 1}", f"x = {m}"], False, out)
    return out


# ---------------------------------------------------------------------------------------------------------
# 5. Functions.


def _functions(rng: random.Random, n: int) -> list[Case]:
    out: list[Case] = []
    for _ in range(n):
        q = Fraction(rng.randint(-99, 99), rng.choice([2, 3, 4, 5, 7, 10]))
        fl, ce = math.floor(q), math.ceil(q)
        arg = rng.choice(_rational_forms(q))
        floors = [f"\\lfloor {arg} \\rfloor", f"\\left\\lfloor {arg}\\right\\rfloor", f"⌊{arg}⌋", f"\\operatorname{{floor}}({arg})"]
        ceils = [f"\\lceil {arg} \\rceil", f"\\left\\lceil {arg} \\right\\rceil", f"⌈{arg}⌉"]
        _pairs("functions", "floor", floors, [str(fl)], True, out)
        _pairs("functions", "ceil", ceils, [str(ce)], True, out)
        _pairs("functions", "floor off by one", floors[:2], [str(fl + 1), str(fl - 1)], False, out)
        if fl != ce:
            _pairs("functions", "floor vs ceil", floors[:2], ceils[:2] + [str(ce)], False, out)
            _pairs("functions", "floor vs value", floors[:1], [arg], False, out)
        a, b = rng.randint(1, 300), rng.randint(1, 300)
        g, lcm = math.gcd(a, b), a * b // math.gcd(a, b)
        gcds = [f"\\gcd({a}, {b})", f"\\gcd\\left({a},{b}\\right)", f"\\operatorname{{gcd}}({a}, {b})", f"gcd({a},{b})"]
        lcms = [f"\\operatorname{{lcm}}({a}, {b})", f"\\mathrm{{lcm}}({a},{b})", f"\\text{{lcm}}({a}, {b})", f"lcm({a}, {b})"]
        _pairs("functions", "gcd", gcds, [str(g)], True, out)
        _pairs("functions", "lcm", lcms, [str(lcm)], True, out)
        if g != lcm:
            _pairs("functions", "gcd vs lcm", gcds[:2], [str(lcm)] + lcms[:1], False, out)
        _pairs("functions", "gcd off by one", gcds[:1], [str(g + 1)], False, out)
        u, v = Fraction(rng.randint(-20, 20), rng.choice([1, 2, 3])), Fraction(rng.randint(-20, 20), rng.choice([1, 2, 3]))
        w = Fraction(rng.randint(-20, 20))
        hi, lo = max(u, v, w), min(u, v, w)
        args = ", ".join(_frac(t) for t in (u, v, w))
        _pairs("functions", "max", [f"\\max({args})", f"\\max\\{{{args}\\}}", f"max({args})"], [_frac(hi)], True, out)
        _pairs("functions", "min", [f"\\min({args})", f"\\min\\left({args}\\right)"], [_frac(lo)], True, out)
        if hi != lo:
            _pairs("functions", "max vs min", [f"\\max({args})"], [_frac(lo)], False, out)
        m, k = rng.randint(-500, 500), rng.randint(2, 40)
        r = m % k
        mods = [f"{m} \\bmod {k}", f"{m} \\mod {k}", f"{m} mod {k}"] if m >= 0 else [f"({m}) \\bmod {k}"]
        _pairs("functions", "mod", mods, [str(r)], True, out)
        _pairs("functions", "mod off by one", mods[:1], [str(r + 1)], False, out)
        if r != m:
            _pairs("functions", "mod vs value", mods[:1], [str(m)], False, out)
        # Congruences: residues modulo the same modulus.
        j = rng.randint(-3, 3)
        cong = [f"x \\equiv {r} \\pmod{{{k}}}", f"x \\equiv {r + j * k} \\pmod {k}", f"{r} \\pmod{{{k}}}", f"x \\equiv {r} (\\bmod {k})", f"x \\equiv {r} \\ (\\text{{mod}}\\ {k})"]
        _pairs("functions", "congruence", cong[:1], cong[1:2] + cong[3:], True, out)
        _pairs("functions", "congruence value", cong[2:3], [str(r)], True, out)
        _pairs("functions", "congruence moved", cong[:1], [f"x \\equiv {r + 1} \\pmod{{{k}}}", f"x \\equiv {r} \\pmod{{{k + 1}}}"], False, out)
        nn, kk = rng.randint(2, 30), rng.randint(0, 12)
        c = math.comb(nn, kk)
        binoms = [f"{{{nn} \\choose {kk}}}", f"\\binom{{{nn}}}{{{kk}}}", f"\\dbinom{{{nn}}}{{{kk}}}", f"{{{nn}\\choose{kk}}}"]
        _pairs("functions", "binomial", binoms, [str(c)], True, out)
        _pairs("functions", "binomial off by one", binoms[:1], [str(c + 1)], False, out)
        if math.comb(nn, kk + 1) != c:
            _pairs("functions", "binomial neighbour", binoms[:1], [f"\\binom{{{nn}}}{{{kk + 1}}}"], False, out)
        # Inverse hyperbolic functions against their logarithms.
        s = rng.randint(1, 5)
        t = sympy.Rational(rng.randint(1, 9), 10)
        ax = "x" if s == 1 else f"{s}x"
        asinh = [f"\\sinh^{{-1}} {ax}", f"\\sinh^{{-1}}({ax})", f"\\operatorname{{arsinh}} {ax}", f"\\operatorname{{arcsinh}}({ax})", f"\\mathrm{{arsinh}}\\,{ax}", f"\\ln\\left({ax} + \\sqrt{{{s * s}x^2 + 1}}\\right)" if s > 1 else "\\ln(x + \\sqrt{x^2 + 1})"]
        _pairs("functions", "arsinh", asinh, asinh, True, out)
        _pairs("functions", "arsinh vs sinh", asinh[:2], [f"\\sinh {ax}", f"\\sinh^{{-1}} {s + 1}x", f"\\operatorname{{arcosh}} {ax}"], False, out)
        kc = rng.randint(2, 9)
        _pairs("functions", "arcosh", [f"\\cosh^{{-1}} {kc}", f"\\operatorname{{arcosh}}({kc})", f"\\operatorname{{arccosh}} {kc}"], [f"\\ln({kc} + \\sqrt{{{kc * kc - 1}}})"], True, out)
        _pairs("functions", "artanh", [f"\\tanh^{{-1}} {_latex(t)}", f"\\operatorname{{artanh}}\\left({_latex(t)}\\right)"], [f"\\frac{{1}}{{2}}\\ln\\frac{{{10 + t * 10}}}{{{10 - t * 10}}}"], True, out)
        _pairs("functions", "arcosh vs arsinh", [f"\\cosh^{{-1}} {kc}"], [f"\\sinh^{{-1}} {kc}", f"\\ln({kc} + \\sqrt{{{kc * kc + 1}}})"], False, out)
        # `**` powers, as Python prints them.
        coefs = [rng.randint(-9, 9) for _ in range(4)]
        e = sum(cf * X**i for i, cf in enumerate(coefs))
        if e != 0:
            py = " + ".join(f"{cf}*x**{i}" for i, cf in enumerate(coefs) if cf)
            _pairs("functions", "** power", [py, py.replace("*x", "x").replace("**", "^")], [_latex(e)], True, out)
            top = max(i for i, cf in enumerate(coefs) if cf)
            wrong = e + X ** (top + 1)
            _pairs("functions", "** power changed", [py], [_latex(wrong)], False, out)
        # `\ln xy` is the logarithm of the product.
        u1, u2 = rng.choice([("x", "y"), ("a", "b"), ("m", "n")])
        lnf = [f"\\ln {u1}{u2}", f"\\ln({u1}{u2})", f"\\ln {u1} + \\ln {u2}", f"\\ln\\left({u2} {u1}\\right)"]
        _pairs("functions", "ln of a product", lnf[:1], lnf[1:], True, out)
        _pairs("functions", "ln of a product changed", lnf[:1], [f"{u2}\\ln {u1}", f"\\ln {u1}", f"\\ln {u1} - \\ln {u2}"], False, out)
    return out


# ---------------------------------------------------------------------------------------------------------
# 6. Numbers.

UNITS = [
    "kcal m^{-2} yr^{-1}", "\\text{ kcal m}^{-2}\\text{ yr}^{-1}", "km/h", "\\text{ km/h}", "\\text{Å}", "Å",
    "m/s^2", "\\,\\mathrm{cm}^2", "\\text{ m}^3", "\\ \\text{kg}", "J/mol", "cm^{3}", "\\text{ apples}", "dollars",
]


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _numbers(rng: random.Random, n: int) -> list[Case]:
    out: list[Case] = []
    for _ in range(n):
        v = rng.randint(1000, 10**12)
        g = f"{v:,}".split(",")
        seps = [",", "{,}", "\\,", ",\\!", ",\\! "]
        forms = [s.join(g) for s in seps]
        _pairs("numbers", "thousands", forms, [str(v)], True, out)
        w = v + rng.choice([1, 10, 1000, -1])
        _pairs("numbers", "thousands changed", forms[:3], [str(w)], False, out)
        o = rng.randint(1, 200)
        suf = _ordinal(o)
        ords = [f"{o}^{{{suf}}}", f"{o}^{{\\text{{{suf}}}}}", f"{o}^\\text{{{suf}}}", f"{o}\\text{{{suf}}}", f"{o}{suf}", f"{o}^{{\\rm {suf}}}"]
        _pairs("numbers", "ordinal", ords, [str(o)], True, out)
        _pairs("numbers", "ordinal changed", ords[:2], [str(o + 1)], False, out)
        q = Fraction(rng.randint(1, 9999), rng.choice([1, 1, 7, 100]))
        val = rng.choice(_rational_forms(q))
        unit = rng.choice(UNITS)
        sep = "" if unit.startswith(("\\", "^")) else " "
        _pairs("numbers", "unit", [f"{val}{sep}{unit}"], _rational_forms(q), True, out)
        _pairs("numbers", "unit value changed", [f"{val}{sep}{unit}"], [_frac(q + 1)], False, out)
        # Letters after a number that are variables: a product, not a unit.
        letters = rng.choice(["xy", "ab", "mn", "rh", "\\pi rh", "xyz", "pq"])
        _pairs("numbers", "variables are not units", [f"{val} {letters}"], [val], False, out)
    return out


# ---------------------------------------------------------------------------------------------------------
# 7. Expressions: arbitrary constants and differential equations.

CONSTANTS = ["C", "c", "K", "C_1", "C_{1}", "c_1", "C_0"]


def _expressions(rng: random.Random, n: int) -> list[Case]:
    out: list[Case] = []
    t = sympy.Symbol("t")
    for _ in range(n):
        k = rng.choice([-3, -2, -1, 2, 3, 5])
        p1, p2 = rng.sample(CONSTANTS, 2)
        if p1.replace("{", "").replace("}", "") == p2.replace("{", "").replace("}", ""):
            continue
        v = rng.choice(["t", "x"])
        families = [
            (f"{p1} e^{{{k}{v}}}", [f"{p2} e^{{{k}{v}}}", f"{p2}\\,e^{{{k}{v}}}", f"e^{{{k}{v}}} {p2}"], [f"{p2} e^{{{-k}{v}}}", f"e^{{{k}{v}}} + {p2}", f"{p2} e^{{{k + 1}{v}}}"]),
            (f"\\frac{{{v}^{{{abs(k)}}}}}{{{abs(k)}}} + {p1}", [f"\\frac{{{v}^{{{abs(k)}}}}}{{{abs(k)}}} + {p2}", f"{p2} + \\frac{{1}}{{{abs(k)}}}{v}^{{{abs(k)}}}"], [f"\\frac{{{v}^{{{abs(k)}}}}}{{{abs(k)}}} + 2{p2} {v}", f"{p2}\\frac{{{v}^{{{abs(k)}}}}}{{{abs(k)}}}", f"\\frac{{{v}^{{{abs(k) + 1}}}}}{{{abs(k) + 1}}} + {p2}"]),
            (f"{p1}\\cos({abs(k)}{v})", [f"{p2} \\cos {abs(k)}{v}", f"{p2}\\cos\\left({abs(k)}{v}\\right)"], [f"{p2}\\sin({abs(k)}{v})", f"\\cos({abs(k)}{v}) + {p2}"]),
        ]
        first, same, diff = rng.choice(families)
        _pairs("expressions", "constant renamed", [first], same, True, out)
        _pairs("expressions", "constant renamed, function changed", [first], diff, False, out)
        # Two variables left over on one side: no renaming.
        _pairs("expressions", "two constants", [f"{p1} e^{{{k}{v}}} + D"], [f"{p2} e^{{{k}{v}}}"], False, out)
    # Linear differential equations a y' + b y = f, rearranged.
    params = ["I", "B", "T", "m", "R", "L", "k", "g"]
    for _ in range(n):
        ya, yb, yf = rng.sample(params, 3)
        ca, cb, cf = rng.randint(1, 4), rng.randint(1, 5), rng.randint(1, 3)
        y = rng.choice([("\\omega", "\\dot\\omega", "\\frac{d\\omega}{dt}"), ("v", "\\dot{v}", "\\frac{dv}{dt}"), ("\\theta", "\\dot{\\theta}", "\\frac{d\\theta}{dt}"), ("x", "\\dot x", "\\frac{\\mathrm{d}x}{\\mathrm{d}t}")])
        name, dot, leib = y
        A = f"{ca if ca > 1 else ''}{ya}"
        Bc = f"{cb if cb > 1 else ''}{yb}"
        F = f"{cf if cf > 1 else ''}{yf}"
        forms = [
            f"{A}{dot} + {Bc}{name} = {F}",
            f"{leib} = \\frac{{{F}}}{{{A}}} - \\frac{{{Bc}{name}}}{{{A}}}",
            f"{dot} = {F}/({A}) - {Bc}{name}/({A})" if len(A) > 1 else f"{dot} = {F}/{A} - {Bc}{name}/{A}",
            f"{A}{leib} = {F} - {Bc}{name}",
            f"{Bc}{name} + {A}{dot} - {F} = 0",
            f"{leib} = \\frac{{{F} - {Bc}{name}}}{{{A}}}",
        ]
        _pairs("expressions", "differential equation", forms[:1], forms[1:], True, out)
        wrong = [
            f"{leib} = \\frac{{{F}}}{{{A}}} + \\frac{{{Bc}{name}}}{{{A}}}",
            f"{A}{dot} - {Bc}{name} = {F}",
            f"{A}{dot} + {Bc}{name} = 2{F}" if cf else f"{A}{dot} = {F}",
            f"{dot} = {F} - {Bc}{name}",
        ]
        _pairs("expressions", "differential equation changed", forms[:2], wrong, False, out)
    return out


# ---------------------------------------------------------------------------------------------------------
# The gates.

FAMILIES = {"names": (_names, 150), "boxes": (_boxes, 120), "sets": (_sets, 120), "relations": (_relations, 60),
            "functions": (_functions, 40), "numbers": (_numbers, 100), "expressions": (_expressions, 40)}


@cache
def generated(family: str) -> tuple[Case, ...]:
    make, n = FAMILIES[family]
    return tuple(make(random.Random(f"{SEED}-{family}"), n))


@cache
def _judged(family: str) -> tuple[tuple[Case, str], ...]:
    return tuple((c, _verdict(c)) for c in generated(family))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_no_near_miss_verifies(family: str) -> None:
    judged = [(c, v) for c, v in _judged(family) if not c.equal]
    accepted = [c for c, v in judged if v == "correct"]
    hows = Counter(c.how for c, _ in judged)
    print(f"\n{family}: {len(judged)} near misses, {len(accepted)} accepted; by kind {dict(hows)}")
    assert len(judged) >= 200
    assert not accepted, "\n".join(f"[{c.how}] {c.pred!r} vs {c.gold!r}" for c in accepted[:30])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_equal_forms_verify(family: str) -> None:
    judged = [(c, v) for c, v in _judged(family) if c.equal]
    missed = [(c, v) for c, v in judged if v != "correct"]
    hows = Counter(c.how for c, _ in judged)
    print(f"\n{family}: {len(judged)} equal forms, {len(judged) - len(missed)} accepted; by kind {dict(hows)}")
    assert len(judged) >= 200
    assert not missed, "\n".join(f"{v}: [{c.how}] {c.pred!r} vs {c.gold!r}" for c, v in missed[:30])


# ---------------------------------------------------------------------------------------------------------
# The issue's examples, and the conventions chosen where the notation is ambiguous.

ISSUE_EXAMPLES = [
    # Left sides.
    ("\\tan A = 2", "2", "correct"),
    ("BC^2 = 19", "19", "correct"),
    ("v(r)=\\sqrt{\\frac{2GM}{r}}", "\\sqrt{\\frac{2GM}{r}}", "correct"),
    ("(p,q)=(3,2)", "(3,2)", "correct"),
    ("x \\approx 600", "600", "correct"),
    ("1", "|AB|=1", "correct"),
    ("7:32", "S_{MBCN}:S=7:32", "correct"),
    ("x = 3", "3", "correct"),
    ("2x+1=5", "5", "incorrect"),
    ("4x", "y^2 = 4x", "incorrect"),
    ("2x + 1", "y = 2x + 1", "correct"),
    ("BC=19", "\\sqrt{19}", "incorrect"),
    ("x = 2\\sqrt{2} \\approx 2.83", "2\\sqrt2", "correct"),
    # Sets.
    ("{1,2,3}", "\\{1,2,3\\}", "correct"),
    ("\\{2\\pm1\\}", "\\{1,3\\}", "correct"),
    ("∅", "\\emptyset", "correct"),
    ("\\varnothing", "\\emptyset", "correct"),
    ("\\pm1,\\pm7", "-7,-1,1,7", "correct"),
    ("\\{1,2\\}", "\\{1,2,3\\}", "incorrect"),
    # Relations.
    ("x<=2", "x \\le 2", "correct"),
    ("x>=2", "x \\ge 2", "correct"),
    ("x!=2", "x \\ne 2", "correct"),
    ("-x > -1", "x < 1", "correct"),
    ("a<b", "b>a", "correct"),
    ("2<2x", "x>1", "correct"),
    ("|x|<2", "-2<x<2", "correct"),
    ("x<=2", "x<2", "incorrect"),
    ("a<b", "a>b", "incorrect"),
    ("5!=120", "5!=120", "correct"),
    # Functions.
    ("\\lfloor 2.5\\rfloor", "2", "correct"),
    ("\\lfloor 2.5\\rfloor", "3", "incorrect"),
    ("\\lceil 2.5\\rceil", "3", "correct"),
    ("\\gcd(12, 18)", "6", "correct"),
    ("\\operatorname{lcm}(4, 6)", "12", "correct"),
    ("\\max(3, 5)", "5", "correct"),
    ("\\min(3, 5)", "3", "correct"),
    ("17 \\bmod 5", "2", "correct"),
    ("2 \\pmod 5", "2", "correct"),
    ("{5 \\choose 2}", "10", "correct"),
    ("\\sinh^{-1} x", "\\operatorname{arsinh} x", "correct"),
    ("x**2", "x^2", "correct"),
    ("\\ln xy", "\\ln(xy)", "correct"),
    # Numbers.
    ("11,\\! 111,\\! 111,\\! 100", "11111111100", "correct"),
    ("12^{th}", "12", "correct"),
    ("1st", "1", "correct"),
    ("2^{\\text{nd}}", "2", "correct"),
    ("15,000 kcal m^{-2} yr^{-1}", "15000", "correct"),
    ("5 \\text{Å}", "5", "correct"),
    ("600/7 km/h", "\\frac{600}{7}", "correct"),
    ("2 xy", "2", "incorrect"),
    ("2\\pi rh", "2\\pi", "incorrect"),
    # Expressions.
    ("C e^{-2t}", "c\\,e^{-2t}", "correct"),
    ("C_1 e^{x}", "C e^{x}", "correct"),
    ("C e^{-2t}", "C e^{2t}", "incorrect"),
    ("C = 5", "c = 5", "incorrect"),
    ("e^{x} + C", "e^{x} + K", "correct"),
    ("e^{x} + C", "e^{x} + K + 1", "incorrect"),
    ("I\\dot\\omega+2B\\omega=T", "\\frac{d\\omega}{dt}=T/I-2B\\omega/I", "correct"),
    ("I\\dot\\omega-2B\\omega=T", "\\frac{d\\omega}{dt}=T/I-2B\\omega/I", "incorrect"),
    ("\\frac{dy}{dx}", "\\frac{y}{x}", "incorrect"),
]


#: The README policy's examples of the rules above.
README_CLAIMS = [
    ("1 < 2x+1 \\le 5", "(0, 2]", "correct"),
    ("|x-1| \\ge 2", "x \\le -1 \\text{ or } x \\ge 3", "correct"),
    ("a<b", "2a < 2b", "correct"),
    ("a<b", "-a<-b", "incorrect"),
    ("x^2 < 4", "(-2, 2)", "unparseable"),
    ("\\{\\}", "\\emptyset", "correct"),
    ("x \\equiv 3 \\pmod 7", "x \\equiv 10 \\pmod 7", "correct"),
    ("2 \\pmod 5", "7", "incorrect"),
    ("7:32", "14:64", "incorrect"),
    ("C e^x", "e^x + C", "incorrect"),
    ("2^x = 8", "8", "incorrect"),
    ("y = 2x+1", "2x+1", "correct"),
    ("y^2 = 4x", "4x", "incorrect"),
    ("3,607,421", "3,\\!607,\\!421", "correct"),
    ("0,500", "500", "incorrect"),
    ("\\frac{dy}{dx}", "y'", "correct"),
    ("dy/dx", "y'", "correct"),
    ("\\lfloor \\pi \\rfloor", "3", "correct"),
    ("\\lfloor 10^{20} + \\pi \\rfloor", "10^{20} + 3", "unparseable"),
]


@pytest.mark.parametrize(("pred", "gold", "want"), README_CLAIMS)
def test_readme_claims(pred: str, gold: str, want: str) -> None:
    assert sk.compare(pred, gold) == want
    assert sk.compare(gold, pred) == want


@pytest.mark.parametrize(("pred", "gold", "want"), ISSUE_EXAMPLES)
def test_issue_examples(pred: str, gold: str, want: str) -> None:
    assert sk.compare(pred, gold) == want
    # Symmetric, except where the gold's left side names the value (a bare prediction is then compared
    # with the named value either way).
    assert sk.compare(gold, pred) == want


BOX_EXAMPLES = [
    ("So the points are $\\boxed{(2, 2)}$ and $\\boxed{(6, 2)}$.", "(2, 2), (6, 2)", "correct"),
    ("The roots are $\\boxed{1}, \\boxed{2}, \\boxed{3}$.", "\\{1,2,3\\}", "correct"),
    ("So $a_n = \\boxed{2n - 1}$ and $b_n = \\boxed{2^{n-1}}$.", "2n - 1, 2^{n-1}", "correct"),
    ("So $\\boxed{3}$. Wait, that is wrong: the answer is $\\boxed{4}$.", "4", "correct"),
    ("So $\\boxed{3}$. Wait, that is wrong: the answer is $\\boxed{4}$.", "3, 4", "incorrect"),
    ("It is $\\boxed{3}$ or $\\boxed{4}$.", "4", "incorrect"),
    ("\\boxed{1} then \\boxed{2}", "2", "correct"),
]


@pytest.mark.parametrize(("completion", "gold", "want"), BOX_EXAMPLES)
def test_several_boxes(completion: str, gold: str, want: str) -> None:
    assert sk.check(completion, gold).status == want


def test_reference_boxes_of_align_rows_and_cases() -> None:
    rows = (
        "Thus the possible values are\n\\begin{align*}\nb + c - a &= \\boxed{5 - 10i}, \\\\\n"
        "a + c - b &= (4 + 3i) + (8 - 5i) = \\boxed{11}, \\\\\na + b - c &= \\boxed{-3 + 6i}.\n\\end{align*}"
    )
    assert sk.extract_gold(rows) == "5 - 10i, 11, -3 + 6i"
    cases = "If $r = 1,$ then $b = \\boxed{-10879}.$  If $r = -1,$ then $b = \\boxed{10879}.$"
    assert sk.extract_gold(cases) == "-10879, 10879"
    # A box in an earlier sentence that is not a case stays superseded.
    assert sk.extract_gold("First $\\boxed{3}$. Then, adding, we get $\\boxed{5}$.") == "5"
    assert sk.extract_gold("\\begin{align*}\nx &= 2 \\\\\n&= \\boxed{4}.\n\\end{align*}") == "4"


def test_log_without_base_is_decided_only_where_both_readings_agree() -> None:
    # Natural in analysis (and sympy), decimal in school texts: a verdict needs both readings.
    assert sk.compare("\\log 8 / \\log 2", "3") == "correct"
    assert sk.compare("\\log(ab)", "\\log a + \\log b") == "correct"
    assert sk.compare("2\\log x", "\\log x^2") == "correct"
    assert sk.compare("\\frac{\\ln 2}{\\ln 2 - \\ln 3}", "\\frac{\\log 2}{\\log 2 - \\log 3}") == "correct"
    assert sk.compare("\\log 100", "2") == "unparseable"
    assert sk.compare("\\log 2", "\\ln 2") == "unparseable"
    assert sk.compare("\\log 2", "\\log 3") == "incorrect"
    assert sk.compare("\\log_{10} 100", "2") == "correct"
    assert sk.compare("\\lg 100", "2") == "correct"
    assert sk.compare("\\ln e^2", "2") == "correct"


def test_a_comma_is_never_a_decimal_point() -> None:
    # Groups of three digits are thousands; anything else with a comma is a list.
    assert sk.compare("1,500", "1500") == "correct"
    assert sk.compare("1,500", "1.5") == "incorrect"
    assert sk.compare("1,5", "1.5") == "incorrect"
    assert sk.compare("3,14", "3.14") == "incorrect"
    assert sk.compare("1,5", "1, 5") == "correct"
    assert sk.compare("12,345.5", "12345.5") == "correct"


# ---------------------------------------------------------------------------------------------------------
# Soundness: a reasoning trace cut off, answers over the size cap, a marker naming two options.


def test_unterminated_think_is_no_answer() -> None:
    rng = random.Random(SEED)
    for _ in range(200):
        ans = str(rng.randint(0, 99))
        thought = rng.choice(["maybe \\boxed{%s}", "so the answer is %s.", "**Answer:** %s", "#### %s", "%s"]) % ans
        open_ = rng.choice([f"<think>{thought}", f"<think>a</think> b <think>{thought}", f"{thought} <think> more"])
        for text in (open_, open_ + " and then"):
            v = sk.check(text, ans)
            assert (v.status, v.predicted) == ("no_answer", None), text
            assert sk.extract_answer(text) is None
            assert sk.verifier.answer_region(text) is None
        closed = f"<think>{thought}</think> The answer is $\\boxed{{{ans}}}$."
        assert sk.check(closed, ans).correct
    assert sk.check("<think>maybe \\boxed{4}", "4").status == "no_answer"
    assert sk.verifier.answer_region("<think>x</think> y") == " y"
    assert sk.trl.accuracy_reward(completions=["<think>\\boxed{4}", "<think></think>\\boxed{4}"], answer=["4", "4"]) == [0.0, 1.0]


def test_answers_over_the_cap_are_unparseable() -> None:
    cap = sk.MAX_ANSWER_BYTES
    shared = "1+" * (cap // 2)
    a, b = shared + "1", shared + "2"
    assert sk.compare(a, b) == "unparseable"
    v = sk.check(f"\\boxed{{{a}}}", b)
    assert v.status == "unparseable" and len(v.predicted.encode()) <= cap
    assert sk.check(f"\\boxed{{{a}}}", f"\\boxed{{{a}}}").status == "unparseable"
    assert sk.check(f"The answer is {a}.", "2").status == "unparseable"
    # Just under the cap is still read.
    small = "123456789+" * (cap // 10 - 1) + "1"
    assert len(small) < cap
    assert sk.check(f"\\boxed{{{small}}}", str(123456789 * (cap // 10 - 1) + 1)).status == "correct"


def test_marker_answer_naming_two_options_is_no_choice() -> None:
    rng = random.Random(SEED)
    letters = "ABCDE"
    for _ in range(200):
        x, y = rng.sample(letters, 2)
        text = rng.choice(["24", "the triangle", "because the sum is even"])
        prose = rng.choice(["although", "but", "however", "unless"])
        completion = f"The answer is ({x}) {text}, {prose} ({y}) is also possible."
        assert sk.check(completion, x).status == "incorrect", completion
        assert sk.check(completion, y).status == "incorrect", completion
        # An option rejected by name (`(B), not (C)`) leaves one choice.
        assert sk.check(f"The answer is ({x}), not ({y}).", x).correct
        # One option, and prose without another option, is a choice.
        committed = f"The answer is ({x}) {text}, {prose} the others fail."
        assert sk.check(committed, x).correct, committed
