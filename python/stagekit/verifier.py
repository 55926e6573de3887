r"""The answer verifier: extract the final answer of a completion and decide equivalence with the gold.

A thin façade over the Rust core (``stagekit._core``). Every call is thread-safe, uses no signals and
releases the GIL; work per pair is bounded by construction (see the README's "Verifier policy").

>>> import stagekit as sk
>>> sk.extract_answer("... so the answer is $\\boxed{\\frac{3}{4}}$.")
'\\frac{3}{4}'
>>> sk.verify("The final answer is $0.75$.", "\\frac34")
True
>>> sk.compare("x = 3 or x = -2", "-2, 3")
'correct'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from stagekit import _core

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "DEFAULT_REL_TOL",
    "MAX_ANSWER_BYTES",
    "MAX_DEPTH",
    "MAX_THREADS",
    "STATUSES",
    "Status",
    "Verdict",
    "VerifierError",
    "check",
    "check_batch",
    "compare",
    "answer_region",
    "extract_answer",
    "extract_gold",
    "normalize_answer",
    "verify",
    "verify_batch",
]

Status = Literal["correct", "incorrect", "no_answer", "unparseable"]

#: The statuses a verdict can have, in the order of their codes.
STATUSES: tuple[Status, ...] = tuple(_core.STATUSES)

#: Relative tolerance used where a side is a decimal with a fractional part or an irrational value.
DEFAULT_REL_TOL = 1e-8

#: Longest answer, in bytes of UTF-8, the verifier reads: an extracted answer is cut there; a longer one
#: passed to :func:`compare` is ``unparseable``; :func:`normalize_answer` reads that much of its input.
MAX_ANSWER_BYTES: int = _core.MAX_ANSWER_BYTES

#: Deepest nesting (brackets, braces, fractions, exponents, ``\text{}`` wrappers, nested tuples, counted
#: together) the verifier follows; a deeper answer is ``unparseable`` unless it is the very same text.
MAX_DEPTH: int = _core.MAX_DEPTH

#: Most threads a batch call uses: four per core. ``threads=`` above it is capped to it, with a
#: ``RuntimeWarning``; below 1 it is a ``ValueError``.
MAX_THREADS: int = _core.MAX_THREADS

VerifierError = _core.VerifierError


def _threads(threads: int | None) -> int | None:
    """``threads=`` as the core takes it: a count past any machine's (``10**20``) is capped like any count
    above :data:`MAX_THREADS` (with the same warning), not an ``OverflowError``."""
    if isinstance(threads, int) and not isinstance(threads, bool) and threads > 2**62:
        return 2**62
    return threads


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verifier's decision on one (completion, gold) pair.

    ``status`` is ``correct``, ``incorrect`` (an answer that differs), ``no_answer`` (the completion
    commits to none) or ``unparseable`` (an answer the verifier could not interpret or decide within its
    caps; it counts as not correct). ``predicted`` is the extracted answer and ``gold`` the answer taken
    from the gold reference.
    """

    status: Status
    predicted: str | None
    gold: str

    @property
    def correct(self) -> bool:
        return self.status == "correct"


def extract_answer(text: str, *, require_marker: bool = False) -> str | None:
    r"""The final answer a completion commits to, or ``None``.

    Without a marker (a box, "the answer is", ``Answer:``, ``####``, an ``A:`` line) only a *finished*
    completion commits to its last math span or number: one whose text ends a sentence (``.``, ``!``,
    ``?``). ``require_marker=True`` accepts marked answers only.

    >>> extract_answer("Tentatively $\\boxed{5}$. Wait: the final answer is $6$.")
    '6'
    >>> extract_answer("So there are 12 rows."), extract_answer("So there are 12 rows, but in this grid, all")
    ('12', None)
    >>> extract_answer("So there are 12 rows.", require_marker=True) is None
    True
    """
    return _core.extract_answer(text, require_marker)


def answer_region(text: str) -> str | None:
    r"""The part of a completion that may hold its answer: the text after the last ``</think>`` (all of it
    without one), or ``None`` when a ``<think>`` is still open there — a reasoning trace cut off at the
    length limit commits to no answer (:func:`check` says ``no_answer``), whatever boxes its thoughts hold.

    >>> answer_region("<think>maybe 4</think> The answer is 5")
    ' The answer is 5'
    >>> answer_region("<think>maybe \\boxed{4}") is None
    True
    """
    return _core.answer_region(text)


def extract_gold(gold: str) -> str:
    r"""The answer of a gold reference: GSM8K's ``#### 72``, MATH's last ``\boxed{}``, or the bare answer.

    >>> extract_gold("16 - 3 - 4 = 9 eggs\\n#### 18")
    '18'
    """
    return _core.extract_gold(gold)


def normalize_answer(answer: str) -> str:
    r"""An answer with LaTeX and unicode noise removed, as the verifier sees it.

    >>> normalize_answer("\\left( -\\infty, 1 \\right]")
    '(-\\infty, 1]'
    """
    return _core.normalize(answer)


def check(
    completion: str, gold: str, *, rel_tol: float = DEFAULT_REL_TOL, require_marker: bool = False
) -> Verdict:
    r"""Verdict of one completion against a gold answer or reference solution.

    ``rel_tol`` is the relative tolerance of decimal literals (rounded values; see the README's verifier
    policy); ``require_marker=True`` rewards only answers given with a marker (see :func:`extract_answer`).

    >>> check("**Answer:** $(-\\infty, 1) \\cup (2, \\infty)$", "x < 1 or x > 2")
    Verdict(status='correct', predicted='(-\\infty, 1) \\cup (2, \\infty)', gold='x < 1 or x > 2')
    >>> check("We count 12 rows.", "12", require_marker=True).status
    'no_answer'
    """
    status, predicted, gold_answer = _core.check(completion, gold, rel_tol, require_marker)
    return Verdict(status, predicted, gold_answer)


def verify(completion: str, gold: str, *, rel_tol: float = DEFAULT_REL_TOL, require_marker: bool = False) -> bool:
    r"""Whether the completion's final answer is equivalent to the gold answer.

    >>> verify("so the answer is 1,234,567.", "1234567"), verify("\\boxed{1234568}", "1234567")
    (True, False)
    """
    return _core.check(completion, gold, rel_tol, require_marker)[0] == "correct"


def compare(predicted: str, gold: str, *, rel_tol: float = DEFAULT_REL_TOL) -> Status:
    r"""Status of an already extracted answer against a gold answer (never ``no_answer``).

    >>> compare("2x-y+1=0", "y=2x+1")
    'correct'
    """
    return _core.compare(predicted, gold, rel_tol)


_Strings = Iterable[str | None] | Any


def verify_batch(
    completions: _Strings,
    golds: _Strings,
    *,
    threads: int | None = None,
    rel_tol: float = DEFAULT_REL_TOL,
    require_marker: bool = False,
) -> pa.BooleanArray:
    r"""Correctness of many pairs, computed in parallel in Rust with the GIL released.

    ``completions`` and ``golds`` are Python sequences of ``str`` (or ``None``) or Arrow string arrays
    (``pyarrow.Array``/``ChunkedArray`` of ``string``, ``large_string`` or ``string_view``, or anything
    exposing ``__arrow_c_array__``), which are read in place without copying. ``threads`` defaults to all
    cores; ``threads=1`` runs on the calling thread; at most :data:`MAX_THREADS` are used (one pool of
    worker threads is kept and reused by every call). Each distinct gold is extracted and parsed once
    per batch. A ``None`` completion is ``no_answer``; a ``None`` gold is ``unparseable``.

    >>> verify_batch(["\\boxed{4}", "\\boxed{5}"], ["4", "4"]).to_pylist()
    [True, False]
    """
    return _core.verify_batch(completions, golds, _threads(threads), rel_tol, require_marker)


def check_batch(
    completions: _Strings,
    golds: _Strings,
    *,
    threads: int | None = None,
    rel_tol: float = DEFAULT_REL_TOL,
    require_marker: bool = False,
) -> pa.Table:
    r"""Verdicts of many pairs as an Arrow table with columns ``correct`` (bool), ``status``
    (dictionary-encoded string), ``predicted`` (string, null where no answer) and ``gold_answer``.

    >>> check_batch(["\\boxed{4}", "no idea"], ["4", "4"]).column("status").to_pylist()
    ['correct', 'no_answer']
    """
    return _check_table(
        completions, golds, threads=threads, rel_tol=rel_tol, with_gold=True, require_marker=require_marker
    )


def _check_table(
    completions: _Strings,
    golds: _Strings,
    *,
    threads: int | None,
    rel_tol: float,
    with_gold: bool,
    require_marker: bool = False,
) -> pa.Table:
    import pyarrow as pa

    correct, codes, predicted, gold = _core.check_batch(
        completions, golds, _threads(threads), rel_tol, with_gold, require_marker
    )
    status = pa.DictionaryArray.from_arrays(codes, pa.array(STATUSES, pa.string()))
    columns = {"correct": correct, "status": status, "predicted": predicted}
    if with_gold:
        columns["gold_answer"] = gold
    return pa.table(columns)
