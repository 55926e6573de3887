"""Type stubs of ``stagekit._core``, the PyO3 binding of the Rust crate ``stagekit-core``.

This stub is the binding's contract: every function the extension exports is listed here with its exact
signature. All functions release the GIL while they work and raise :class:`VerifierError` if the Rust
core panics. Strings with lone surrogates are read with U+FFFD in their place.
"""

from collections.abc import Iterable
from typing import Any, Final, Literal

import pyarrow as pa

__version__: Final[str]

#: Status names, indexed by the status codes :func:`check_batch` returns.
STATUSES: Final[list[Literal["correct", "incorrect", "no_answer", "unparseable"]]]

#: Most threads a batch call uses (four per core); ``threads=`` above it is capped, with a RuntimeWarning.
MAX_THREADS: Final[int]
#: The recursion guard's one depth limit; deeper answers are ``unparseable``.
MAX_DEPTH: Final[int]
#: Longest answer (bytes) read; a longer one passed to :func:`compare` is ``unparseable``.
MAX_ANSWER_BYTES: Final[int]

class VerifierError(RuntimeError):
    """An internal error (a panic) of the Rust verifier core."""

def extract_answer(text: str, require_marker: bool = False) -> str | None:
    """The final answer a completion commits to, or ``None``; with ``require_marker`` only an answer given
    with a marker (a box, "the answer is", ``Answer:``, ``####``, an ``A:`` line)."""

def answer_region(text: str) -> str | None:
    """The part of a completion that may hold its answer: the text after the last ``</think>`` (all of it
    without one), or ``None`` while a ``<think>`` is still open there (a truncated reasoning trace)."""

def extract_gold(gold: str) -> str:
    """The answer of a gold reference: after ``####``, in the last ``\\boxed{}``, or the bare answer."""

def normalize(answer: str) -> str:
    """An answer with LaTeX and unicode noise removed, as the verifier sees it."""

def check(
    completion: str, gold: str, rel_tol: float = 1e-8, require_marker: bool = False
) -> tuple[Literal["correct", "incorrect", "no_answer", "unparseable"], str | None, str]:
    """``(status, predicted, gold_answer)`` of one pair."""

def compare(
    predicted: str, gold: str, rel_tol: float = 1e-8
) -> Literal["correct", "incorrect", "no_answer", "unparseable"]:
    """Status of two already extracted answers (``no_answer`` is never returned)."""

def verify_batch(
    completions: Iterable[str | None] | pa.Array | pa.ChunkedArray | Any,
    golds: Iterable[str | None] | pa.Array | pa.ChunkedArray | Any,
    threads: int | None = None,
    rel_tol: float = 1e-8,
    require_marker: bool = False,
) -> pa.BooleanArray:
    """Correctness of each pair, computed in parallel on ``threads`` threads (default: all cores; at most
    :data:`MAX_THREADS`, more is capped with a ``RuntimeWarning``; below 1 is a ``ValueError``). One
    pool of worker threads, sized at the largest count asked for, serves every call."""

def check_batch(
    completions: Iterable[str | None] | pa.Array | pa.ChunkedArray | Any,
    golds: Iterable[str | None] | pa.Array | pa.ChunkedArray | Any,
    threads: int | None = None,
    rel_tol: float = 1e-8,
    with_gold: bool = True,
    require_marker: bool = False,
) -> tuple[pa.BooleanArray, pa.UInt8Array, pa.StringArray, pa.StringArray | None]:
    """``(correct, status_code, predicted, gold_answer)`` arrays; codes index :data:`STATUSES`;
    ``gold_answer`` is None unless ``with_gold``. Verdicts become Arrow columns 16,384 rows at a time."""

def arithmetic_claims(text: str) -> list[tuple[int, int, str, str, str, bool]]:
    """Every arithmetic claim ``a op b = c`` of ``text`` as ``(start, end, lhs, stated, actual, ok)``;
    offsets are character offsets into ``text``; ``actual`` is the exact value of ``lhs``."""

def first_false_claims(
    texts: Iterable[str | None] | pa.Array | pa.ChunkedArray | Any, threads: int | None = None
) -> tuple[pa.UInt64Array, pa.UInt64Array, pa.StringArray, pa.StringArray, pa.StringArray]:
    """The first false claim of each text as arrays ``(start, end, lhs, stated, actual)``, null where a
    text has none."""

def _panic_for_test() -> None:
    """Panic inside the Rust core (tests use it to check that panics become exceptions)."""
