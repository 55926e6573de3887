"""Segmenting reasoning traces into steps, never inside math or code."""

from __future__ import annotations

import bisect
import re

import pyarrow as pa

from stagekit.transforms._contract import Col, set_column, transform

__all__ = ["METHODS", "segment_steps", "split_trace"]

#: Segmentation methods; ``auto`` takes the first of ``step_markers``, ``paragraphs``, ``numbered``,
#: ``lines``, ``sentences`` that yields at least two steps.
METHODS = ("auto", "step_markers", "paragraphs", "numbered", "lines", "sentences")

_STEP = re.compile(r"(?im)^[ \t>#*_]*(?:step|stage)\s*\d+\b")
_PARA = re.compile(r"\r?\n[ \t]*\r?\n\s*")
_NUMBERED = re.compile(r"(?m)^[ \t]*(?:\d{1,3}[.)]|\(\d{1,3}\))[ \t]+")
_LINE = re.compile(r"\n\s*")
_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z(\\$\d])")
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|Mr|Mrs|Dr|Fig|Eq|approx|cf|No)\.|\b[A-Z]\.)$")
_BEGIN = re.compile(r"\\begin\{([^}]*)\}")
_BLANK = re.compile(r"\n[ \t\r]*\n")
#: Spans closed by a fixed delimiter: code fences and display math.
_DELIMITED = (("```", "```"), ("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"))


def _protected(text: str) -> list[tuple[int, int]]:
    """Sorted, disjoint spans that a step boundary must not cut: code fences, ``$$..$$``, ``\\[..\\]``,
    ``\\(..\\)``, ``\\begin{env}..\\end{env}`` and inline ``$..$`` (Pandoc's rules, within a paragraph). An
    unclosed display span runs to the end."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        delims = next(((o, cl) for o, cl in _DELIMITED if text.startswith(o, i)), None)
        if delims is not None:
            j = text.find(delims[1], i + len(delims[0]))
            j = n if j < 0 else j + len(delims[1])
        elif text.startswith("\\begin{", i):
            m = _BEGIN.match(text, i)
            env = m.group(1) if m else ""
            end_tag = f"\\end{{{env}}}"
            depth, k = 1, (m.end() if m else i + 7)
            while depth and k < n:
                nb = text.find(f"\\begin{{{env}}}", k)
                ne = text.find(end_tag, k)
                if ne < 0:
                    k = n
                    break
                if 0 <= nb < ne:
                    depth += 1
                    k = nb + 7
                else:
                    depth -= 1
                    k = ne + len(end_tag)
            j = k
        elif c == "\\":
            i += 2
            continue
        elif c == "$":
            # Inline math (Pandoc's rule): an opening `$` has a non-space to its right, a closing `$` a
            # non-space to its left and no digit to its right; it may wrap a line but not a blank line. A
            # `$` without such a partner (currency: "$18", "costs $5.\nThen $6") is plain text.
            j = i + 1
            if j >= n or text[j].isspace():
                i += 1
                continue
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "\n" and _BLANK.match(text, j):
                    j = n
                    break
                if text[j] == "$" and not text[j - 1].isspace() and not (j + 1 < n and text[j + 1].isdigit()):
                    break
                j += 1
            if j >= n:
                i += 1
                continue
            j += 1
        else:
            i += 1
            continue
        spans.append((i, min(j, n)))
        i = max(j, i + 1)
    return spans


def _allowed(pos: int, spans: list[tuple[int, int]], starts: list[int]) -> bool:
    k = bisect.bisect_right(starts, pos) - 1
    return k < 0 or not (spans[k][0] < pos < spans[k][1])


def _cut_points(text: str, method: str, spans: list[tuple[int, int]]) -> list[int]:
    starts = [s for s, _ in spans]
    if method == "step_markers":
        pts = [m.start() for m in _STEP.finditer(text)]
    elif method == "paragraphs":
        pts = [m.end() for m in _PARA.finditer(text)]
    elif method == "numbered":
        pts = [m.start() for m in _NUMBERED.finditer(text)]
    elif method == "lines":
        pts = [m.end() for m in _LINE.finditer(text)]
    elif method == "sentences":
        # `m.start()` is just after the punctuation: the abbreviation check looks at the text ending there.
        pts = [m.end() for m in _SENTENCE.finditer(text) if not _ABBREV.search(text[max(0, m.start() - 8) : m.start()])]
    else:
        raise ValueError(f"segment_steps: unknown method {method!r} (methods: {', '.join(METHODS)})")
    return sorted({p for p in pts if 0 < p < len(text) and _allowed(p, spans, starts)})


def _pieces(text: str, points: list[int]) -> list[str]:
    bounds = [0, *points, len(text)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        piece = text[a:b].strip()
        if piece:
            out.append(piece)
    return out


def split_trace(text: str, method: str = "auto") -> list[str]:
    r"""Split one reasoning trace into steps.

    Steps are consecutive slices of ``text`` with surrounding whitespace stripped (empty ones dropped),
    so joining them gives back the trace up to whitespace at the seams. No boundary falls inside
    ``$..$``, ``$$..$$``, ``\[..\]``, ``\(..\)``, ``\begin{..}..\end{..}`` or a code fence. Inline ``$..$``
    is read as Pandoc reads it: no space just inside either dollar, no digit just after the closing one,
    no blank line inside; a ``$`` without such a partner (currency) is text.

    >>> split_trace("Step 1: $a = 2$.\nStep 2: so $b = 3$.")
    ['Step 1: $a = 2$.', 'Step 2: so $b = 3$.']
    >>> split_trace("We have $$x\n\ny$$ here.\n\nThen done.")
    ['We have $$x\n\ny$$ here.', 'Then done.']
    """
    if method not in METHODS:
        raise ValueError(f"segment_steps: unknown method {method!r} (methods: {', '.join(METHODS)})")
    spans = _protected(text)
    if method != "auto":
        return _pieces(text, _cut_points(text, method, spans))
    for m in METHODS[1:]:
        pieces = _pieces(text, _cut_points(text, m, spans))
        if len(pieces) >= 2:
            return pieces
    return _pieces(text, [])


@transform(
    reads=[Col("trace", "string", nulls="a null trace has no steps (an empty list)")],
    writes=[("<out>", "list<string>: the steps (default column name `steps`)")],
)
def segment_steps(table: pa.Table, *, trace: str = "solution", method: str = "auto", out: str = "steps") -> pa.Table:
    r"""Add a list-of-strings column of reasoning steps split from the ``trace`` column.

    Methods (see :data:`METHODS`): "Step k" markers, blank-line paragraphs, numbered lines, lines, and
    sentences as a fallback; ``auto`` picks the first that yields two or more steps, per row.

    >>> import pyarrow as pa
    >>> t = pa.table({"solution": ["16 - 3 - 4 = 9 eggs.\n9 * 2 = $18.\n#### 18"]})
    >>> segment_steps(t)["steps"].to_pylist()
    [['16 - 3 - 4 = 9 eggs.', '9 * 2 = $18.', '#### 18']]
    """
    if method not in METHODS:
        raise ValueError(f"segment_steps: unknown method {method!r} (methods: {', '.join(METHODS)})")
    steps = [[] if t is None else split_trace(t, method) for t in table[trace].to_pylist()]
    return set_column(table, out, pa.array(steps, pa.list_(pa.string())))
