"""The Bridge: make a hard problem's teacher trace learnable by letting the student finish it from a
prefix, and keep the shortest prefix from which the student succeeds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.transforms._contract import Col, set_column, transform

__all__ = ["BRIDGE_TEMPLATE", "bridge_prompts", "select_bridge"]

#: The default prompt asking the student to continue a teacher prefix.
BRIDGE_TEMPLATE = (
    "{problem}\n\nHere is the beginning of a solution:\n\n{prefix}\n\n"
    "Continue the solution from where it stops, step by step, and put the final answer in \\boxed{{}}."
)


def _cuts(n_steps: int, cuts: str | Sequence[float]) -> list[int]:
    """Prefix lengths j (1 <= j < n_steps) to try."""
    if n_steps < 2:
        return []
    if cuts == "all":
        return list(range(1, n_steps))
    if cuts == "binary":
        js = {round(n_steps * f) for f in (0.25, 0.5, 0.75)}
    elif isinstance(cuts, str):
        raise ValueError(f"bridge_prompts: cuts must be 'all', 'binary' or a list of fractions, got {cuts!r}")
    else:
        fr = list(cuts)
        if not fr or any(not 0 < float(f) < 1 for f in fr):
            raise ValueError(f"bridge_prompts: cut fractions must lie in (0, 1), got {cuts!r}")
        js = {round(n_steps * float(f)) for f in fr}
    return sorted({min(max(j, 1), n_steps - 1) for j in js})


@transform(
    reads=[
        Col("steps", "list<string>", nulls="a null or short step list (< 2 steps) yields no prompts"),
        Col("prompt", "string"),
    ],
    writes=[
        ("<input columns>", "passed through, repeated once per cut"),
        ("cut", "int32: j, the number of teacher steps in the prefix (1 <= j < n_steps)"),
        ("n_steps", "int32: steps in the teacher trace"),
        ("prefix", "string: the first j steps joined by blank lines"),
        ("bridge_prompt", "string: the prompt asking the student to continue"),
    ],
)
def bridge_prompts(
    table: pa.Table,
    *,
    cuts: str | Sequence[float] = "all",
    steps: str = "steps",
    prompt: str = "prompt",
    template: str = BRIDGE_TEMPLATE,
) -> pa.Table:
    r"""One row per (problem, cut j) holding the teacher prefix ``steps[:j]`` and a prompt that asks the
    student to continue from it.

    ``cuts``: ``"all"`` (every j from 1 to n-1), ``"binary"`` (the quartiles: j = n/4, n/2, 3n/4, a coarse
    grid that costs three generations per problem), or a list of fractions of the trace.
    ``template`` is formatted with ``problem`` and ``prefix``.

    >>> import pyarrow as pa
    >>> t = pa.table({"problem_id": [7], "prompt": ["2+3*4?"], "steps": [["3*4 = 12.", "2+12 = 14.", "#### 14"]]})
    >>> bridge_prompts(t).select(["problem_id", "cut", "prefix"]).to_pylist()
    [{'problem_id': 7, 'cut': 1, 'prefix': '3*4 = 12.'}, {'problem_id': 7, 'cut': 2, 'prefix': '3*4 = 12.\n\n2+12 = 14.'}]
    """
    step_lists = table[steps].to_pylist()
    problems = table[prompt].to_pylist()
    take, cut_col, n_col, prefixes, prompts = [], [], [], [], []
    for i, (st, problem) in enumerate(zip(step_lists, problems, strict=True)):
        st = ["" if x is None else x for x in (st or [])]
        for j in _cuts(len(st), cuts):
            prefix = "\n\n".join(st[:j])
            take.append(i)
            cut_col.append(j)
            n_col.append(len(st))
            prefixes.append(prefix)
            prompts.append(template.format(problem=problem or "", prefix=prefix))
    out = table.take(pa.array(take, pa.int64()))
    for name, values, typ in (
        ("cut", cut_col, pa.int32()),
        ("n_steps", n_col, pa.int32()),
        ("prefix", prefixes, pa.string()),
        ("bridge_prompt", prompts, pa.string()),
    ):
        out = set_column(out, name, pa.array(values, typ))
    return out


def _length_fn(max_chars: int | None, tokenizer: Any, max_tokens: int | None) -> Callable[[str], bool]:
    """A predicate: does a target fit the cap?"""
    if max_tokens is not None and tokenizer is None:
        raise ValueError("select_bridge: max_tokens needs a tokenizer")

    def n_tokens(text: str) -> int:
        if hasattr(tokenizer, "encode"):
            return len(tokenizer.encode(text))
        return len(tokenizer(text))

    def fits(text: str) -> bool:
        if max_chars is not None and len(text) > max_chars:
            return False
        return not (max_tokens is not None and n_tokens(text) > max_tokens)

    return fits


@transform(
    reads=[
        Col("by", "any"),
        Col("cut", "integer"),
        Col("prefix", "string"),
        Col("completion", "string", nulls="a null continuation is not eligible"),
        Col("correct", "bool", nulls="null counts as not correct"),
        Col("trace", "string", nulls="a problem whose fallback trace is null gets a null target"),
    ],
    writes=[
        ("<by columns>", "one row per problem, sorted"),
        ("cut", "int32: the chosen prefix length j (null on fallback)"),
        ("cut_pass_rate", "float64: pass rate of the continuations at the chosen cut (null on fallback)"),
        ("target", "string: teacher prefix + the best verified continuation, or the full teacher trace"),
        ("fallback", "bool: no prefix reached tau within the cap; the target is the full teacher trace"),
        ("over_cap", "bool: the target is longer than the cap (only possible on fallback)"),
        ("<other columns>", "the first value per problem of every other input column"),
    ],
)
def select_bridge(
    scored: pa.Table,
    *,
    tau: float = 0.5,
    by: str = "problem_id",
    cut: str = "cut",
    prefix: str = "prefix",
    completion: str = "completion",
    correct: str = "correct",
    trace: str = "solution",
    max_chars: int | None = None,
    tokenizer: Any = None,
    max_tokens: int | None = None,
) -> pa.Table:
    r"""Per problem, the shortest teacher prefix whose student continuations reach pass rate >= ``tau``,
    and the SFT target: that prefix followed by the best verified continuation (the shortest correct one
    that fits the length cap; ties keep input order).

    Fallback, documented: when no cut reaches ``tau`` with a continuation that fits the cap, the target is
    the full teacher trace (``trace`` column) and ``fallback`` is true; ``over_cap`` flags a fallback
    trace longer than the cap. The cap is ``max_chars`` characters and/or ``max_tokens`` tokens counted by
    ``tokenizer`` (anything with ``encode`` or a callable returning a sequence).

    >>> import pyarrow as pa
    >>> t = pa.table({"problem_id": [1, 1, 1, 1], "cut": [1, 1, 2, 2], "prefix": ["A.", "A.", "A.\n\nB.", "A.\n\nB."],
    ...               "completion": ["x \\boxed{4}", "\\boxed{5}", "\\boxed{4}", "so \\boxed{4}"],
    ...               "correct": [True, False, True, True], "solution": ["A.\n\nB.\n\n\\boxed{4}"] * 4})
    >>> select_bridge(t, tau=0.5).select(["problem_id", "cut", "cut_pass_rate", "target", "fallback"]).to_pylist()
    [{'problem_id': 1, 'cut': 1, 'cut_pass_rate': 0.5, 'target': 'A.\n\nx \\boxed{4}', 'fallback': False}]
    """
    if not 0 < tau <= 1:
        raise ValueError(f"select_bridge: tau must be in (0, 1], got {tau}")
    fits = _length_fn(max_chars, tokenizer, max_tokens)
    order = pc.sort_indices(scored, sort_keys=[(by, "ascending"), (cut, "ascending")])
    s = scored.take(order)
    keys = s[by].to_pylist()
    cuts = s[cut].to_pylist()
    prefixes = s[prefix].to_pylist()
    comps = s[completion].to_pylist()
    oks = [bool(x) for x in pc.fill_null(s[correct], False).to_pylist()]
    traces = s[trace].to_pylist()
    others = [c for c in s.column_names if c not in {by, cut, prefix, completion, correct, "target", "fallback", "over_cap", "cut_pass_rate"}]
    first_rows: list[int] = []
    chosen_cut: list[int | None] = []
    rate: list[float | None] = []
    targets: list[str | None] = []
    fallback: list[bool] = []
    over: list[bool] = []
    i, n = 0, s.num_rows
    while i < n:
        j = i
        while j < n and keys[j] == keys[i]:
            j += 1
        first_rows.append(i)
        pick = None
        k = i
        while k < j and pick is None:  # cuts ascend within the problem
            m = k
            while m < j and cuts[m] == cuts[k]:
                m += 1
            p = sum(oks[k:m]) / (m - k)
            if p >= tau:
                cands = [
                    f"{(prefixes[r] or '').rstrip()}\n\n{comps[r].strip()}"
                    for r in range(k, m)
                    if oks[r] and comps[r] is not None
                ]
                cands = [c for c in cands if fits(c)]
                if cands:
                    pick = (cuts[k], p, min(cands, key=len))
            k = m
        if pick is None:
            full = traces[i]
            chosen_cut.append(None)
            rate.append(None)
            targets.append(full)
            fallback.append(True)
            over.append(full is not None and not fits(full))
        else:
            chosen_cut.append(pick[0])
            rate.append(pick[1])
            targets.append(pick[2])
            fallback.append(False)
            over.append(False)
        i = j
    base = s.take(pa.array(first_rows, pa.int64())).select([by, *others])
    return (
        base.append_column("cut", pa.array(chosen_cut, pa.int32()))
        .append_column("cut_pass_rate", pa.array(rate, pa.float64()))
        .append_column("target", pa.array(targets, pa.string()))
        .append_column("fallback", pa.array(fallback, pa.bool_()))
        .append_column("over_cap", pa.array(over, pa.bool_()))
    )
