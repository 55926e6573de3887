r"""The built-in problem ladder: seeded arithmetic and word problems in graded difficulty.

Offline and data-free: :func:`make_ladder` builds a table of problems from level 1 (one-step sums of
small numbers, which a 135M-parameter instruct model usually solves) to level 7 (long multi-step word
problems it essentially never does). Each problem carries its gold answer and a worked solution that can
serve as a teacher trace: one step per line, each arithmetic step written ``a op b = c`` (so the step
checker :func:`stagekit._core.arithmetic_claims` can verify it), ending with
``The final answer is $\boxed{ANSWER}$.``

>>> t = make_ladder(7, seed=1)
>>> t.column("level").to_pylist()
[1, 2, 3, 4, 5, 6, 7]

Problem ``i`` depends only on ``(seed, levels, i)``, never on ``n``: each problem draws from its own
``random.Random`` seeded with a string derived from the seed, its level and its index within the level.
All arithmetic is exact (:class:`fractions.Fraction`); non-integer values are terminating decimals
(``12.5``), except answers to "what fraction" questions, which are reduced fractions (``3/8``).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from stagekit.generate.base import Prompt, Sampling

__all__ = ["LEVELS", "BOXED_INSTRUCTION", "SKILL", "Level", "Problem", "SimulatedStudent", "make_ladder", "make_problem"]

#: The sentence every prompt ends with.
BOXED_INSTRUCTION = "Put the final answer in \\boxed{}."


@dataclass(frozen=True)
class Level:
    """One rung of the ladder."""

    level: int
    name: str
    description: str


LEVELS: tuple[Level, ...] = (
    Level(1, "sum", "one-step sums of small numbers (What is 7 + 5?)"),
    Level(2, "one-step", "one-step subtraction, multiplication or exact division of small numbers"),
    Level(3, "two-step", "two-step arithmetic with precedence or parentheses (What is 12 + 7 * 3?)"),
    Level(4, "word-1", "one-step word problems (Tom has 12 apples and buys 5 more...)"),
    Level(5, "word-2", "two-to-three-step word problems, GSM8K-like"),
    Level(6, "word-rates", "multi-step word problems with fractions, percentages and rates"),
    Level(7, "word-long", "longer multi-step word problems (four to six steps)"),
)


@dataclass(frozen=True)
class Problem:
    """One generated problem (a row of :func:`make_ladder`'s table)."""

    problem_id: str
    level: int
    prompt: str
    answer: str
    solution: str


# ------------------------------------------------------------------------------------------ number text


def _num(q: Fraction | int) -> str:
    """An integer or terminating decimal, written plainly (``12``, ``12.5``)."""
    q = Fraction(q)
    if q.denominator == 1:
        return str(q.numerator)
    d, digits = q.denominator, 0
    while d % 2 == 0 or d % 5 == 0:
        d //= 2 if d % 2 == 0 else 5
        digits += 1
    if d != 1:
        raise ValueError(f"{q} is not a terminating decimal")
    scaled = abs(q.numerator * 10**digits // q.denominator)
    s = str(scaled).rjust(digits + 1, "0")
    out = f"{s[:-digits]}.{s[-digits:]}".rstrip("0").rstrip(".")
    return ("-" if q < 0 else "") + out


def _frac(q: Fraction) -> str:
    """A reduced fraction ``p/q`` (or an integer)."""
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def _terminating(q: Fraction) -> bool:
    d = q.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


class _Steps:
    """Collects the lines of a worked solution; :meth:`calc` writes ``a op b = c`` and returns ``c``."""

    _OPS: dict[str, Callable[[Fraction, Fraction], Fraction]] = {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
    }

    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, text: str) -> None:
        self.lines.append(text)

    def calc(self, a: Fraction | int, op: str, b: Fraction | int, *, before: str = "", after: str = "", a_text: str | None = None) -> Fraction:
        a, b = Fraction(a), Fraction(b)
        c = self._OPS[op](a, b)
        lhs = a_text if a_text is not None else _num(a)
        if c == 1 and after.startswith(" "):  # "1 dollar", "1 box"
            word, _, rest = after[1:].partition(" ")
            word = word[:-2] if word.endswith("xes") else word[:-1] if word.endswith("s") else word
            after = " " + " ".join(x for x in (word, rest) if x)
        self.lines.append(f"{before}{lhs} {op} {_num(b)} = {_num(c)}{after}")
        return c

    def solution(self, answer: str) -> str:
        return "\n".join([*self.lines, f"The final answer is $\\boxed{{{answer}}}$."])


# A generator draws a problem: (question text, steps, answer string).
_Gen = Callable[[random.Random], tuple[str, _Steps, str]]

_PEOPLE = (
    ("Tom", "he", "his"), ("Sara", "she", "her"), ("Liam", "he", "his"), ("Maya", "she", "her"),
    ("Omar", "he", "his"), ("Nina", "she", "her"), ("Ben", "he", "his"), ("Ava", "she", "her"),
    ("Leo", "he", "his"), ("Zoe", "she", "her"), ("Ravi", "he", "his"), ("Emma", "she", "her"),
)
_THINGS = ("apples", "marbles", "stickers", "pencils", "cookies", "cards", "shells", "stamps", "books", "balloons")
_CONTAINERS = (("boxes", "box"), ("bags", "bag"), ("packs", "pack"), ("jars", "jar"), ("crates", "crate"))


def _person(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(_PEOPLE)


# ------------------------------------------------------------------------------------------ level 1


def _l1(rng: random.Random) -> tuple[str, _Steps, str]:
    a, b = rng.randint(1, 20), rng.randint(1, 20)
    q = rng.choice(("What is {a} + {b}?", "Compute {a} + {b}.", "Add {a} and {b}.", "What is the sum of {a} and {b}?"))
    s = _Steps()
    c = s.calc(a, "+", b)
    return q.format(a=a, b=b), s, _num(c)


# ------------------------------------------------------------------------------------------ level 2


def _l2(rng: random.Random) -> tuple[str, _Steps, str]:
    s = _Steps()
    kind = rng.choice(("sub", "mul", "div"))
    if kind == "sub":
        a = rng.randint(6, 40)
        b = rng.randint(1, a - 1)
        q = rng.choice(("What is {a} - {b}?", "Compute {a} - {b}.", "Subtract {b} from {a}."))
        c = s.calc(a, "-", b)
    elif kind == "mul":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        q = rng.choice(("What is {a} * {b}?", "Compute {a} * {b}.", "Multiply {a} by {b}."))
        c = s.calc(a, "*", b)
    else:
        b, k = rng.randint(2, 12), rng.randint(2, 12)
        a = b * k
        q = rng.choice(("What is {a} / {b}?", "Compute {a} / {b}.", "Divide {a} by {b}."))
        c = s.calc(a, "/", b)
    return q.format(a=a, b=b), s, _num(c)


# ------------------------------------------------------------------------------------------ level 3


def _l3(rng: random.Random) -> tuple[str, _Steps, str]:
    s = _Steps()
    kind = rng.choice(("a+b*c", "a*b-c", "(a+b)*c", "a-b+c", "a*b/c", "a-b*c"))
    if kind == "a+b*c":
        a, b, c = rng.randint(2, 30), rng.randint(2, 12), rng.randint(2, 12)
        expr = f"{a} + {b} * {c}"
        s.say("Multiplication comes before addition.")
        m = s.calc(b, "*", c, before="First: ")
        r = s.calc(a, "+", m, before="Then: ")
    elif kind == "a-b*c":
        b, c = rng.randint(2, 9), rng.randint(2, 9)
        a = b * c + rng.randint(1, 40)
        expr = f"{a} - {b} * {c}"
        s.say("Multiplication comes before subtraction.")
        m = s.calc(b, "*", c, before="First: ")
        r = s.calc(a, "-", m, before="Then: ")
    elif kind == "a*b-c":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        c = rng.randint(1, a * b - 1)
        expr = f"{a} * {b} - {c}"
        m = s.calc(a, "*", b, before="First: ")
        r = s.calc(m, "-", c, before="Then: ")
    elif kind == "(a+b)*c":
        a, b, c = rng.randint(2, 15), rng.randint(2, 15), rng.randint(2, 9)
        expr = f"({a} + {b}) * {c}"
        s.say("The parentheses come first.")
        m = s.calc(a, "+", b, before="First: ")
        r = s.calc(m, "*", c, before="Then: ")
    elif kind == "a-b+c":
        a = rng.randint(10, 50)
        b, c = rng.randint(1, a - 1), rng.randint(1, 30)
        expr = f"{a} - {b} + {c}"
        s.say("Work from left to right.")
        m = s.calc(a, "-", b, before="First: ")
        r = s.calc(m, "+", c, before="Then: ")
    else:  # a*b/c with an exact quotient
        c = rng.randint(2, 9)
        a = c * rng.randint(1, 6)
        b = rng.randint(2, 12)
        expr = f"{a} * {b} / {c}"
        s.say("Work from left to right.")
        m = s.calc(a, "*", b, before="First: ")
        r = s.calc(m, "/", c, before="Then: ")
    q = rng.choice(("What is {e}?", "Compute {e}.", "Evaluate {e}."))
    return q.format(e=expr), s, _num(r)


# ------------------------------------------------------------------------------------------ level 4


def _l4(rng: random.Random) -> tuple[str, _Steps, str]:
    name, he, his = _person(rng)
    thing = rng.choice(_THINGS)
    s = _Steps()
    kind = rng.choice(("add", "sub", "mul", "div"))
    if kind == "add":
        a, b = rng.randint(3, 40), rng.randint(2, 25)
        q = f"{name} has {a} {thing}. {he.capitalize()} gets {b} more. How many {thing} does {name} have now?"
        s.say(f"{name} starts with {a} {thing} and gets {b} more, so we add.")
        r = s.calc(a, "+", b, after=f" {thing}")
    elif kind == "sub":
        a = rng.randint(8, 50)
        b = rng.randint(2, a - 2)
        q = f"{name} has {a} {thing}. {he.capitalize()} gives {b} of them to a friend. How many {thing} does {name} have left?"
        s.say(f"{name} starts with {a} {thing} and gives away {b}, so we subtract.")
        r = s.calc(a, "-", b, after=f" {thing}")
    elif kind == "mul":
        cont, one = rng.choice(_CONTAINERS)
        a, b = rng.randint(2, 9), rng.randint(2, 12)
        q = f"{name} has {a} {cont} of {thing}. Each {one} holds {b} {thing}. How many {thing} does {name} have in all?"
        s.say(f"There are {a} {cont} with {b} {thing} in each, so we multiply.")
        r = s.calc(a, "*", b, after=f" {thing}")
    else:
        b, k = rng.randint(2, 8), rng.randint(2, 10)
        a = b * k
        q = f"{name} shares {a} {thing} equally among {b} friends. How many {thing} does each friend get?"
        s.say(f"{a} {thing} are split into {b} equal shares, so we divide.")
        r = s.calc(a, "/", b, after=f" {thing}")
    return q, s, _num(r)


# ------------------------------------------------------------------------------------------ level 5


def _l5_packs(rng: random.Random) -> tuple[str, _Steps, str]:
    name, he, his = _person(rng)
    thing = rng.choice(_THINGS)
    cont, one = rng.choice(_CONTAINERS)
    a, b = rng.randint(2, 8), rng.randint(3, 12)
    c = rng.randint(1, a * b - 1)
    q = (f"{name} buys {a} {cont} of {thing} with {b} {thing} in each {one}. "
         f"{he.capitalize()} gives {c} {thing} to {his} sister. How many {thing} does {name} have left?")
    s = _Steps()
    t = s.calc(a, "*", b, before="Total bought: ", after=f" {thing}")
    r = s.calc(t, "-", c, before="After giving some away: ", after=f" {thing}")
    return q, s, _num(r)


def _l5_boxes(rng: random.Random) -> tuple[str, _Steps, str]:
    name, he, _ = _person(rng)
    per = rng.randint(3, 8)
    total = per * rng.randint(3, 12)
    a = rng.randint(1, total - 1)
    b = total - a
    item = rng.choice(("muffins", "cupcakes", "cookies", "rolls"))
    q = (f"{name} bakes {a} {item} in the morning and {b} {item} in the afternoon. "
         f"{he.capitalize()} puts them in boxes of {per}. How many boxes does {name} fill?")
    s = _Steps()
    t = s.calc(a, "+", b, before="Total baked: ", after=f" {item}")
    r = s.calc(t, "/", per, before="Boxes filled: ", after=" boxes")
    return q, s, _num(r)


def _l5_tickets(rng: random.Random) -> tuple[str, _Steps, str]:
    pa_, pc = rng.randint(6, 15), rng.randint(2, 8)
    na, nc = rng.randint(1, 4), rng.randint(2, 5)
    place = rng.choice(("the zoo", "the museum", "the cinema", "the aquarium"))
    q = (f"Tickets to {place} cost ${pa_} for each adult and ${pc} for each child. "
         f"A family buys {na} adult tickets and {nc} child tickets. How many dollars do they pay in total?")
    s = _Steps()
    x = s.calc(na, "*", pa_, before="Adult tickets: ", after=" dollars")
    y = s.calc(nc, "*", pc, before="Child tickets: ", after=" dollars")
    r = s.calc(x, "+", y, before="Total: ", after=" dollars")
    return q, s, _num(r)


def _l5_wages(rng: random.Random) -> tuple[str, _Steps, str]:
    name, he, _ = _person(rng)
    rate, h1, h2 = rng.randint(8, 20), rng.randint(2, 8), rng.randint(2, 8)
    spend = rng.randint(5, rate * (h1 + h2) - 1)
    q = (f"{name} earns ${rate} per hour. {he.capitalize()} works {h1} hours on Saturday and {h2} hours on Sunday, "
         f"then spends ${spend} on a gift. How many dollars does {name} have left from this pay?")
    s = _Steps()
    h = s.calc(h1, "+", h2, before="Hours worked: ", after=" hours")
    e = s.calc(h, "*", rate, before="Money earned: ", after=" dollars")
    r = s.calc(e, "-", spend, before="Left after the gift: ", after=" dollars")
    return q, s, _num(r)


def _l5_pages(rng: random.Random) -> tuple[str, _Steps, str]:
    name, he, _ = _person(rng)
    per, days = rng.randint(5, 25), rng.randint(2, 7)
    total = per * days + rng.randint(10, 120)
    q = (f"A book has {total} pages. {name} reads {per} pages every day for {days} days. "
         f"How many pages does {he} still have to read?")
    s = _Steps()
    d = s.calc(per, "*", days, before="Pages read: ", after=" pages")
    r = s.calc(total, "-", d, before="Pages left: ", after=" pages")
    return q, s, _num(r)


_L5: tuple[_Gen, ...] = (_l5_packs, _l5_boxes, _l5_tickets, _l5_wages, _l5_pages)


# ------------------------------------------------------------------------------------------ level 6


def _l6_discount(rng: random.Random) -> tuple[str, _Steps, str]:
    item = rng.choice(("jacket", "bike", "lamp", "backpack", "pair of shoes", "board game"))
    price = 4 * rng.randint(5, 40)
    pct = rng.choice((10, 15, 20, 25, 30, 40, 50))
    q = f"A {item} costs ${price}. It is on sale for {pct}% off. What is the sale price in dollars?"
    s = _Steps()
    off = s.calc(Fraction(pct, 100), "*", price, a_text=f"{pct}/100", before="Discount: ", after=" dollars")
    r = s.calc(price, "-", off, before="Sale price: ", after=" dollars")
    return q, s, _num(r)


def _l6_fraction_rest(rng: random.Random) -> tuple[str, _Steps, str]:
    den = rng.choice((3, 4, 5, 6, 8))
    num = rng.randint(1, den - 1)
    f = Fraction(num, den)
    total = f.denominator * rng.randint(3, 8)
    q = (f"A class has {total} students. {f.numerator}/{f.denominator} of them walk to school and the rest take "
         f"the bus. How many students take the bus?")
    s = _Steps()
    w = s.calc(f, "*", total, a_text=f"{f.numerator}/{f.denominator}", before="Students who walk: ", after=" students")
    r = s.calc(total, "-", w, before="Students who take the bus: ", after=" students")
    return q, s, _num(r)


def _l6_rate(rng: random.Random) -> tuple[str, _Steps, str]:
    name, he, _ = _person(rng)
    per = rng.choice((10, 12, 15, 18, 20, 24, 25, 30))
    d = rng.choice((2, 3, 4, 5))
    f = Fraction(1, d)
    while True:  # total = d * k pages, k of them read; the (d - 1) * k left take a whole number of hours
        k = rng.randint(10, 120)
        if ((d - 1) * k) % per == 0:
            break
    total = d * k
    q = (f"A book has {_num(total)} pages. {name} has already read {f.numerator}/{f.denominator} of it. "
         f"If {he} reads {per} pages per hour, how many more hours does {he} need to finish the book?")
    s = _Steps()
    read = s.calc(f, "*", total, a_text=f"{f.numerator}/{f.denominator}", before="Pages already read: ", after=" pages")
    left = s.calc(total, "-", read, before="Pages left: ", after=" pages")
    r = s.calc(left, "/", per, before="Hours needed: ", after=" hours")
    return q, s, _num(r)


def _l6_marbles(rng: random.Random) -> tuple[str, _Steps, str]:
    colors = rng.sample(("red", "blue", "green", "yellow", "white"), 3)
    counts = [rng.randint(2, 12) for _ in colors]
    ask = rng.randrange(3)
    q = (f"A bag has {counts[0]} {colors[0]} marbles, {counts[1]} {colors[1]} marbles and {counts[2]} {colors[2]} "
         f"marbles. What fraction of the marbles are {colors[ask]}? Give the fraction in lowest terms.")
    s = _Steps()
    t = s.calc(counts[0], "+", counts[1], before="First two colors: ", after=" marbles")
    t = s.calc(t, "+", counts[2], before="All marbles: ", after=" marbles")
    f = Fraction(counts[ask], int(t))
    if f.denominator != t:
        s.say(f"The {colors[ask]} fraction is {counts[ask]}/{_num(t)}, which reduces to {_frac(f)}.")
    else:
        s.say(f"The {colors[ask]} fraction is {_frac(f)}.")
    return q, s, _frac(f)


def _l6_increase(rng: random.Random) -> tuple[str, _Steps, str]:
    old = rng.choice((20, 25, 40, 50, 80, 100, 120, 200))
    pct = rng.choice((5, 10, 15, 20, 25, 30, 50, 75))
    new = Fraction(old * (100 + pct), 100)
    if new.denominator != 1:
        old, new = old * 4, new * 4
    item = rng.choice(("a concert ticket", "a monthly bus pass", "a haircut", "a yoga class"))
    q = f"The price of {item} went up from ${old} to ${_num(new)}. By what percent did the price increase?"
    s = _Steps()
    inc = s.calc(new, "-", old, before="Increase: ", after=" dollars")
    ratio = s.calc(inc, "/", old, before="As a part of the old price: ")
    r = s.calc(ratio, "*", 100, before="As a percent: ", after=" percent")
    return q, s, _num(r)


def _l6_speed(rng: random.Random) -> tuple[str, _Steps, str]:
    while True:
        v1, v2 = rng.choice((30, 40, 45, 50, 60)), rng.choice((20, 30, 40, 50, 60, 70))
        t1, t2 = rng.randint(2, 4), rng.randint(2, 3)
        avg = Fraction(v1 * t1 + v2 * t2, t1 + t2)
        if _terminating(avg):
            break
    q = (f"A car drives {t1} hours at {v1} miles per hour and then {t2} hours at {v2} miles per hour. "
         f"What is its average speed for the whole trip, in miles per hour?")
    s = _Steps()
    d1 = s.calc(t1, "*", v1, before="First part: ", after=" miles")
    d2 = s.calc(t2, "*", v2, before="Second part: ", after=" miles")
    d = s.calc(d1, "+", d2, before="Total distance: ", after=" miles")
    t = s.calc(t1, "+", t2, before="Total time: ", after=" hours")
    r = s.calc(d, "/", t, before="Average speed: ", after=" miles per hour")
    return q, s, _num(r)


_L6: tuple[_Gen, ...] = (_l6_discount, _l6_fraction_rest, _l6_rate, _l6_marbles, _l6_increase, _l6_speed)


# ------------------------------------------------------------------------------------------ level 7


def _l7_shop(rng: random.Random) -> tuple[str, _Steps, str]:
    name, he, _ = _person(rng)
    n1, p1 = rng.randint(2, 5), rng.randint(3, 15)
    n2, p2 = rng.randint(2, 6), rng.randint(2, 9)
    pct = rng.choice((10, 20, 25, 50))
    subtotal = n1 * p1 + n2 * p2
    paid = next(b for b in (20, 50, 100, 200) if b >= subtotal)
    q = (f"{name} buys {n1} notebooks at ${p1} each and {n2} pens at ${p2} each. "
         f"A coupon takes {pct}% off the whole purchase. {he.capitalize()} pays with a ${paid} bill. "
         f"How much change, in dollars, does {name} get?")
    s = _Steps()
    a = s.calc(n1, "*", p1, before="Notebooks: ", after=" dollars")
    b = s.calc(n2, "*", p2, before="Pens: ", after=" dollars")
    t = s.calc(a, "+", b, before="Total before the coupon: ", after=" dollars")
    off = s.calc(Fraction(pct, 100), "*", t, a_text=f"{pct}/100", before="Coupon discount: ", after=" dollars")
    cost = s.calc(t, "-", off, before="Total after the coupon: ", after=" dollars")
    r = s.calc(paid, "-", cost, before="Change: ", after=" dollars")
    return q, s, _num(r)


def _l7_eggs(rng: random.Random) -> tuple[str, _Steps, str]:
    while True:
        hens, per, keep = rng.randint(4, 20), rng.randint(1, 3), rng.randint(2, 10)
        days = rng.choice((5, 6, 7))
        if hens * per > keep and ((hens * per - keep) * days) % 12 == 0:
            break
    price = rng.randint(2, 6)
    q = (f"A farmer has {hens} hens, and each hen lays {per} eggs a day. The farmer's family eats {keep} eggs a day "
         f"and sells the rest in cartons of 12 for ${price} a carton. How many dollars does the farmer earn "
         f"from eggs in {days} days?")
    s = _Steps()
    laid = s.calc(hens, "*", per, before="Eggs laid per day: ", after=" eggs")
    sold = s.calc(laid, "-", keep, before="Eggs sold per day: ", after=" eggs")
    total = s.calc(sold, "*", days, before=f"Eggs sold in {days} days: ", after=" eggs")
    cartons = s.calc(total, "/", 12, before="Cartons: ", after=" cartons")
    r = s.calc(cartons, "*", price, before="Money earned: ", after=" dollars")
    return q, s, _num(r)


def _l7_savings(rng: random.Random) -> tuple[str, _Steps, str]:
    name, he, his = _person(rng)
    while True:
        weekly, weeks, gift = rng.randint(3, 15), rng.randint(4, 12), rng.choice((10, 15, 20, 25, 30, 40, 50))
        den = rng.choice((2, 3, 4, 5))
        total = weekly * weeks + gift
        if total % den == 0:
            break
    book = rng.randint(2, 8)
    left_after_game = total - total // den
    nbooks = rng.randint(1, max(1, min(5, left_after_game // book - 1)))
    q = (f"{name} saves ${weekly} every week for {weeks} weeks, and also gets ${gift} for {his} birthday. "
         f"{he.capitalize()} spends 1/{den} of all the money on a video game and then buys {nbooks} comic books "
         f"at ${book} each. How many dollars does {name} have left?")
    s = _Steps()
    sv = s.calc(weekly, "*", weeks, before="Weekly savings: ", after=" dollars")
    t = s.calc(sv, "+", gift, before="With the birthday money: ", after=" dollars")
    g = s.calc(t, "/", den, before="Video game: ", after=" dollars")
    rest = s.calc(t, "-", g, before="Left after the game: ", after=" dollars")
    bk = s.calc(nbooks, "*", book, before="Comic books: ", after=" dollars")
    r = s.calc(rest, "-", bk, before="Left at the end: ", after=" dollars")
    if r < 0:  # never with the bounds above; kept as a guard
        raise AssertionError("negative savings")
    return q, s, _num(r)


def _l7_trip(rng: random.Random) -> tuple[str, _Steps, str]:
    while True:  # whole gallons, and a share in whole cents
        dist, mpg = rng.choice((120, 150, 180, 200, 240, 300, 360)), rng.choice((20, 25, 30, 40))
        gas = Fraction(rng.choice((300, 325, 350, 375, 400)), 100)
        people = rng.choice((2, 3, 4, 5))
        if (2 * dist) % mpg == 0 and (2 * dist // mpg * gas * 100 / people).denominator == 1:
            break
    group = rng.choice(("A group of friends", "A family", "Some classmates"))
    q = (f"{group} plan a round trip to a lake {dist} miles away. Their car goes {mpg} miles on one gallon of "
         f"gas, and gas costs ${_num(gas)} per gallon. If {people} people split the gas cost equally, how many "
         f"dollars does each person pay?")
    s = _Steps()
    miles = s.calc(dist, "*", 2, before="Round trip: ", after=" miles")
    gallons = s.calc(miles, "/", mpg, before="Gas needed: ", after=" gallons")
    cost = s.calc(gallons, "*", gas, before="Gas cost: ", after=" dollars")
    r = s.calc(cost, "/", people, before="Each person pays: ", after=" dollars")
    return q, s, _num(r)


_L7: tuple[_Gen, ...] = (_l7_shop, _l7_eggs, _l7_savings, _l7_trip)


def _pick(gens: tuple[_Gen, ...]) -> _Gen:
    def gen(rng: random.Random) -> tuple[str, _Steps, str]:
        return rng.choice(gens)(rng)

    return gen


_GENERATORS: dict[int, _Gen] = {1: _l1, 2: _l2, 3: _l3, 4: _l4, 5: _pick(_L5), 6: _pick(_L6), 7: _pick(_L7)}


# ------------------------------------------------------------------------------------------ public API


def make_problem(level: int, index: int, *, seed: int = 0) -> Problem:
    """Problem ``index`` of ``level`` for ``seed``: a pure function of its three arguments."""
    if level not in _GENERATORS:
        raise ValueError(f"unknown level {level!r}; levels are {sorted(_GENERATORS)}")
    if index < 0:
        raise ValueError(f"index must be non-negative, got {index}")
    rng = random.Random(f"stagekit-ladder:{seed}:{level}:{index}")
    question, steps, answer = _GENERATORS[level](rng)
    return Problem(
        problem_id=f"L{level}-{index:04d}",
        level=level,
        prompt=f"{question} {BOXED_INSTRUCTION}",
        answer=answer,
        solution=steps.solution(answer),
    )


def make_ladder(n: int, *, seed: int = 0, levels: Sequence[int] | None = None):
    """``n`` problems spread round-robin over ``levels`` (default: all), as a ``pyarrow.Table``.

    Columns: ``problem_id`` (``L3-0007``: level 3, its 8th problem), ``level`` (int8), ``prompt``,
    ``answer`` (a plain number string) and ``solution`` (the worked solution). Row ``i`` is problem
    ``i // len(levels)`` of level ``levels[i % len(levels)]``, so it does not depend on ``n``.
    """
    import pyarrow as pa

    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    lv = [lvl.level for lvl in LEVELS] if levels is None else [int(x) for x in levels]
    if not lv:
        raise ValueError("levels must not be empty")
    if len(set(lv)) != len(lv):
        raise ValueError(f"levels must not repeat, got {lv}")
    for x in lv:
        if x not in _GENERATORS:
            raise ValueError(f"unknown level {x!r}; levels are {sorted(_GENERATORS)}")
    rows = [make_problem(lv[i % len(lv)], i // len(lv), seed=seed) for i in range(n)]
    schema = pa.schema(
        [
            ("problem_id", pa.string()),
            ("level", pa.int8()),
            ("prompt", pa.string()),
            ("answer", pa.string()),
            ("solution", pa.string()),
        ]
    )
    return pa.table(
        {
            "problem_id": [r.problem_id for r in rows],
            "level": [r.level for r in rows],
            "prompt": [r.prompt for r in rows],
            "answer": [r.answer for r in rows],
            "solution": [r.solution for r in rows],
        },
        schema=schema,
    )


# ------------------------------------------------------------------------------------ simulated student

#: :class:`SimulatedStudent`'s default chance of solving a problem of each level.
SKILL: dict[int, float] = {1: 0.9, 2: 0.7, 3: 0.5, 4: 0.3, 5: 0.15, 6: 0.05, 7: 0.0}

_CLAIM = re.compile(r"= (-?[0-9][0-9.]*)")


class SimulatedStudent:
    r"""A stand-in for a model, for examples and tests: no weights, no randomness beyond a seed. It knows
    the problems it was given (a table with ``prompt``, ``answer``, ``solution``; ``level`` optional) and
    answers a prompt that contains one of them.

    Each sample is correct with the problem's ``skill`` (by level, :data:`SKILL`), and then it is the worked
    solution; otherwise it is the worked solution with one arithmetic slip (a step's result changed, so the
    step checker finds a false ``a op b = c``) and a wrong final answer, or (one in five) a solution cut
    off before its final answer. Asked to continue a teacher prefix (a Bridge prompt holding the first
    ``j`` of ``m`` steps), it writes the remaining steps, and is correct more often the longer the
    prefix: ``skill + (1 - skill) * j / m``. It implements the :class:`~stagekit.generate.Generator`
    protocol, so ``sk.generate(problems, SimulatedStudent(problems), n=4)`` gives the rollouts a model
    would, in the same format; the same seed gives the same samples.

    >>> problems = make_ladder(2, levels=[1])
    >>> [len(row) for row in SimulatedStudent(problems).generate(problems["prompt"].to_pylist(), n=3)]
    [3, 3]
    """

    name = "simulated"

    def __init__(self, problems: Any, *, skill: Mapping[int, float] | None = None, seed: int = 0) -> None:
        from stagekit.transforms import as_table

        table = as_table(problems, "SimulatedStudent")
        missing = {"prompt", "answer", "solution"} - set(table.column_names)
        if missing:
            raise ValueError(f"SimulatedStudent: the problems lack {sorted(missing)} (columns: {table.column_names})")
        self.skill = dict(SKILL if skill is None else skill)
        self.seed = seed
        levels = table["level"].to_pylist() if "level" in table.column_names else [3] * table.num_rows
        self._problems = sorted(
            zip(table["prompt"].to_pylist(), table["answer"].to_pylist(), table["solution"].to_pylist(), levels,
                strict=True),
            key=lambda r: -len(r[0] or ""),  # longest first: a prompt that contains another is matched first
        )

    def _problem(self, prompt: str) -> tuple[str, str, int]:
        for text, answer, solution, level in self._problems:
            if text and text in prompt:
                return str(answer), str(solution), int(level)
        raise ValueError(f"SimulatedStudent: the prompt is not one of its problems: {prompt[:80]!r}")

    def generate(self, prompts: Sequence[Prompt], *, n: int, sampling: Sampling | None = None) -> list[list[str]]:
        from stagekit.transforms.segment import split_trace

        seed = sampling.seed if sampling is not None else 0
        out = []
        for prompt in prompts:
            text = prompt if isinstance(prompt, str) else "\n".join(str(m.get("content", "")) for m in prompt)
            answer, solution, level = self._problem(text)
            steps = split_trace(solution)
            # a Bridge prompt: the longest teacher prefix it holds
            cut = next((j for j in range(len(steps) - 1, 0, -1) if "\n\n".join(steps[:j]) in text), 0)
            rate = self.skill.get(level, 0.0)
            rate += (1 - rate) * cut / max(len(steps), 1)
            rest = steps[cut:]
            row = []
            for i in range(n):
                h = hashlib.sha256(f"{self.seed}|{seed}|{text}|{i}".encode()).digest()
                u, v = int.from_bytes(h[:8], "big") / 2**64, h[8]
                row.append("\n".join(rest) if u < rate else _slip(rest, answer, v))
            out.append(row)
        return out


    def grpo_rollouts(self, problems: Any, *, n: int = 4, steps: int = 3) -> pa.Table:
        """What :meth:`stagekit.trl.RolloutRecorder.read` returns after ``steps`` GRPO steps on ``problems``
        with groups of ``n`` (minus the training: the simulated student does not change): ``step``,
        ``problem_id``, ``prompt``, ``completion``, ``answer``, ``correct``."""
        import pyarrow as pa

        from stagekit.generate.base import generate
        from stagekit.transforms.score import score

        parts = []
        for step in range(steps):
            t = score(generate(problems, self, n=n, seed=step, show_progress=False))
            parts.append(t.select(["problem_id", "prompt", "completion", "answer", "correct"]).add_column(
                0, "step", pa.array([step] * t.num_rows, pa.int64())))
        return pa.concat_tables(parts)


def _slip(steps: list[str], answer: str, v: int) -> str:
    """The steps with one arithmetic slip and a wrong final answer (or, one in five, cut off before it)."""
    lines = "\n".join(steps).split("\n")
    if v % 5 == 0 and len(lines) > 1:
        return "\n".join(lines[:-1])  # no final answer
    delta = 1 + v % 3
    claims = [k for k, line in enumerate(lines[:-1]) if _CLAIM.search(line)]
    if claims:
        k = claims[v % len(claims)]
        m = list(_CLAIM.finditer(lines[k]))[-1]
        wrong = _num(Fraction(m.group(1)) + delta)
        lines[k] = f"{lines[k][: m.start(1)]}{wrong}{lines[k][m.end(1) :]}"
    try:
        bad = Fraction(answer.replace(",", "")) + delta
        wrong_answer = _frac(bad) if "/" in answer else _num(bad) if _terminating(bad) else _frac(bad)
    except (ValueError, ZeroDivisionError):
        wrong_answer = f"{answer}{delta}"
    lines[-1] = f"The final answer is $\\boxed{{{wrong_answer}}}$."
    return "\n".join(lines)
