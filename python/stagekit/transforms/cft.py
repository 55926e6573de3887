"""Critique Fine-Tuning records from failed attempts: diagnosis, repair, and a new reasoning trace."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import pyarrow as pa

from stagekit import _core
from stagekit import verifier as _verify
from stagekit.transforms._contract import GOLD_FALLBACK, Col, explode, transform
from stagekit.transforms.formats import strip_annotations as _strip_annotations
from stagekit.transforms.segment import split_trace

__all__ = ["CFT_KINDS", "CFTWarning", "cft_records", "diagnose"]

#: The record kinds :func:`cft_records` can emit.
CFT_KINDS = ("diagnosis", "repair", "new_trace")

DIAGNOSIS_PROMPT = (
    "{problem}\n\nHere is an attempted solution:\n\n{attempt}\n\n"
    "Find the first mistake in this attempt, explain what is wrong, and give the correct final answer."
)
REPAIR_PROMPT = (
    "{problem}\n\nHere is the beginning of a solution; every step so far is correct:\n\n{prefix}\n\n"
    "Continue the solution to the final answer."
)
REPAIR_PROMPT_EMPTY = "{problem}\n\nA previous attempt went wrong from its first step. Solve the problem step by step."


def _with_final_answer(text: str, gold: str) -> str | None:
    """A reference solution stating its final answer in a form the verifier extracts: as it is when its
    stated answer verifies, with the gold appended when it states none, and ``None`` (no record) when it
    states a different answer."""
    if _verify.extract_answer(text) is None:
        return f"{text.rstrip()}\n\nThe final answer is $\\boxed{{{_verify.extract_gold(gold)}}}$."
    return text if _verify.verify(text, gold) else None


def diagnose(attempt: str, gold: str) -> tuple[str, int | None]:
    r"""The built-in reference critic: where an attempt first goes wrong and why.

    Returns ``(critique, step)`` where ``step`` is the 1-based index of the first wrong step (by
    :func:`~stagekit.transforms.segment.split_trace`), or ``None`` when the fault is the final answer or its
    absence. The arithmetic step checker (Rust) finds the first false ``a op b = c`` claim.

    >>> diagnose("16 - 3 = 13 eggs.\n13 * 2 = $27.\nA: 27", "26")
    ('Step 2 is wrong: it claims 13 * 2 = 27, but 13 * 2 = 26.', 2)
    >>> diagnose("So the answer is 25.", "26")[0]
    'The final answer 25 does not match the correct answer 26.'
    """
    claims = [c for c in _core.arithmetic_claims(attempt) if not c[5]]
    if claims:
        start, _, lhs, stated, actual, _ = claims[0]
        step = _step_of(attempt, start)
        return f"Step {step} is wrong: it claims {lhs} = {stated}, but {lhs} = {actual}.", step
    v = _verify.check(attempt, gold)
    expected = _verify.extract_gold(gold)
    if v.status == "no_answer":
        return "The attempt never states a final answer.", None
    if v.correct:
        return "The attempt reaches the correct final answer.", None
    return f"The final answer {v.predicted} does not match the correct answer {expected}.", None


class CFTWarning(UserWarning):
    """:func:`cft_records` could make no record of a requested kind (the message says why)."""


def _warn_missing_kinds(kinds: tuple[str, ...], made: list[str], t: pa.Table, golds: list, attempts: list,
                        refs: list, conts: list, reference: str, continuations: str | None) -> None:
    usable = [i for i, (g, a) in enumerate(zip(golds, attempts, strict=True)) if g is not None and a is not None]
    if not usable:
        return  # no failed attempt with a gold answer: nothing was to be made
    present = set(made)
    for kind in kinds:
        if kind in present:
            continue
        if kind == "diagnosis":
            why = "no diagnosis states a final answer that verifies against the gold (is the gold parseable?)"
        elif kind == "repair" and any(conts[i] for i in usable):
            why = f"no continuation in {continuations!r} reaches a final answer equal to the gold"
        elif reference not in t.column_names:
            why = (f"the table has no reference-solution column {reference!r} (option reference=); join the "
                   f"problems' reference solutions in, e.g. failures.join(problems.select(['problem_id', "
                   f"{reference!r}]), 'problem_id') (with zero_reward_groups(..., flat=True)), or pass "
                   f"kinds=('diagnosis',)")
        elif not any(refs[i] for i in usable):
            why = f"the reference column {reference!r} is null or empty in every row with an attempt"
        else:
            why = (f"no reference solution in {reference!r} states a final answer equal to the gold (a record is "
                   f"verified before it is emitted)")
        warnings.warn(f"cft_records: no {kind} records: {why}", CFTWarning, stacklevel=4)


def _step_of(text: str, offset: int) -> int:
    """1-based index of the step (by split_trace) holding character ``offset``."""
    pos = 0
    for k, step in enumerate(split_trace(text), 1):
        at = text.find(step, pos)
        if at <= offset < at + len(step):
            return k
        pos = at + len(step)
    return 1


def _correct_prefix(attempt: str, wrong_step: int | None) -> str:
    """The attempt up to its last correct step: before the first wrong step, or (when the fault is the
    final answer) everything but the last step."""
    steps = split_trace(attempt)
    keep = (wrong_step - 1) if wrong_step is not None else max(len(steps) - 1, 0)
    return "\n\n".join(steps[:keep])


@transform(
    reads=[
        Col("problem_id", "any"),
        Col("prompt", "string"),
        Col("answer", "text", nulls="a row with a null gold answer yields no records", fallback=GOLD_FALLBACK),
        Col("completion", "any", nulls="a null attempt is skipped (string, or list<string> as from zero_reward_groups)"),
        Col("reference", "string", required=False, nulls="no repair or new_trace record for that problem"),
        Col("critiques", "string", required=False, nulls="falls back to the built-in critic"),
        Col("continuations", "string", required=False, nulls="the repair falls back to the reference solution"),
    ],
    writes=[
        ("problem_id", "the problem"),
        ("kind", "string: diagnosis | repair | new_trace"),
        ("prompt", "string: the CFT input (problem + attempt, or problem + correct prefix, or the problem)"),
        ("response", "string: the target (critique + correct answer, continuation, or full solution)"),
        ("answer", "string: the gold answer"),
        ("attempt", "string: the failed attempt (null for new_trace)"),
        ("error_step", "int32: 1-based first wrong step found by the step checker (null if none)"),
        ("critic", "string: builtin | supplied (the critique column) | reference"),
    ],
)
def cft_records(
    failures: pa.Table,
    *,
    kinds: Iterable[str] = CFT_KINDS,
    critiques: str | None = None,
    continuations: str | None = None,
    reference: str = "solution",
    problem_id: str = "problem_id",
    prompt: str = "prompt",
    answer: str = "answer",
    completion: str = "completion",
    strip_annotations: bool = True,
) -> pa.Table:
    r"""Critique Fine-Tuning records from failed attempts, for the next SFT stage.

    - ``diagnosis`` (one per attempt): where the attempt first goes wrong and why — the first false
      arithmetic claim found by the Rust step checker, else the final-answer mismatch, else the missing
      answer; or the text of a ``critiques`` column written by an LLM critic — followed by the correct
      final answer.
    - ``repair`` (one per attempt): prompt = problem + the attempt up to its last correct step; response =
      a continuation to a verified answer: the ``continuations`` column (from a generator) when given,
      else the reference solution.
    - ``new_trace`` (one per problem): a verified full solution (the reference).

    Every record's response is verified against the gold answer before it is emitted; a record that does
    not verify is dropped. A requested kind of which no record can be made is reported by a
    :class:`CFTWarning` that says why (most often: no reference solutions reached the table — join them
    in, as the README shows, or pass ``kinds=("diagnosis",)``). ``strip_annotations`` removes GSM8K's ``<<48/2=24>>`` calculator annotations
    from reference text. ``completion`` may be a list column (the ``completions`` of
    :func:`~stagekit.transforms.groups.zero_reward_groups`), which is exploded.

    >>> import pyarrow as pa
    >>> t = pa.table({"problem_id": [1], "prompt": ["Eggs?"], "answer": ["26"],
    ...               "completion": ["16 - 3 = 13.\n13 * 2 = 27.\nA: 27"], "solution": ["13 * 2 = 26.\n#### 26"]})
    >>> cft_records(t).select(["kind", "error_step", "response"]).to_pylist()[0]
    {'kind': 'diagnosis', 'error_step': 2, 'response': 'Step 2 is wrong: it claims 13 * 2 = 27, but 13 * 2 = 26.\n\nThe correct final answer is $\\boxed{26}$.'}
    """
    kinds = tuple(kinds)
    bad = set(kinds) - set(CFT_KINDS)
    if bad or not kinds:
        raise ValueError(f"cft_records: kinds must be drawn from {CFT_KINDS}, got {kinds!r}")
    t = failures
    ctype = t.schema.field(completion).type
    if pa.types.is_null(ctype):
        t = t.set_column(t.column_names.index(completion), completion, t[completion].cast(pa.string()))
        ctype = pa.string()
    if pa.types.is_list(ctype) or pa.types.is_large_list(ctype):
        t = explode(t, completion)
    elif not (pa.types.is_string(ctype) or pa.types.is_large_string(ctype)):
        from stagekit.transforms._contract import SchemaError, columns_present

        raise SchemaError(
            f"cft_records: column {completion!r} has type {ctype}, expected string or list<string>; "
            f"columns present: {columns_present(t)}"
        )

    def col(name: str | None) -> list:
        return t[name].to_pylist() if name and name in t.column_names else [None] * t.num_rows

    pids, probs, golds, attempts = col(problem_id), col(prompt), col(answer), col(completion)
    refs, crits, conts = col(reference), col(critiques), col(continuations)
    recs: dict[str, list] = {k: [] for k in ("problem_id", "kind", "prompt", "response", "answer", "attempt", "error_step", "critic")}

    def emit(pid, kind, p, response, gold, attempt, step, critic) -> None:
        if response is None or not _verify.verify(response, gold):
            return
        for k, v in zip(recs, (pid, kind, p, response, gold, attempt, step, critic), strict=True):
            recs[k].append(v)

    def clean(ref: str) -> str:
        return _strip_annotations(ref) if strip_annotations else ref

    seen_new: set = set()
    for pid, prob, gold, att, ref, crit, cont in zip(pids, probs, golds, attempts, refs, crits, conts, strict=True):
        if gold is None or att is None:
            continue
        prob = prob or ""
        critique, step = diagnose(att, gold)
        if "diagnosis" in kinds:
            text, critic = (crit, "supplied") if crit else (critique, "builtin")
            response = f"{text.rstrip()}\n\nThe correct final answer is $\\boxed{{{_verify.extract_gold(gold)}}}$."
            emit(pid, "diagnosis", DIAGNOSIS_PROMPT.format(problem=prob, attempt=att), response, gold, att, step, critic)
        if "repair" in kinds and (cont or ref):
            prefix = _correct_prefix(att, step)
            p = REPAIR_PROMPT.format(problem=prob, prefix=prefix) if prefix else REPAIR_PROMPT_EMPTY.format(problem=prob)
            repaired = cont if cont else _with_final_answer(clean(ref), gold)
            emit(pid, "repair", p, repaired, gold, att, step, "supplied" if cont else "reference")
        if "new_trace" in kinds and ref and pid not in seen_new:
            seen_new.add(pid)
            emit(pid, "new_trace", prob, _with_final_answer(clean(ref), gold), gold, None, None, "reference")
    _warn_missing_kinds(kinds, recs["kind"], t, golds, attempts, refs, conts, reference, continuations)
    pid_type = failures.schema.field(problem_id).type
    return pa.table(
        {
            "problem_id": pa.array(recs["problem_id"], pid_type),
            "kind": pa.array(recs["kind"], pa.string()),
            "prompt": pa.array(recs["prompt"], pa.string()),
            "response": pa.array(recs["response"], pa.string()),
            "answer": pa.array(recs["answer"], pa.string()),
            "attempt": pa.array(recs["attempt"], pa.string()),
            "error_step": pa.array(recs["error_step"], pa.int32()),
            "critic": pa.array(recs["critic"], pa.string()),
        }
    )
