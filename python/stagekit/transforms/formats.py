"""Adapters to the dataset shapes trl's SFTTrainer and GRPOTrainer take."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pyarrow as pa

from stagekit import verifier as _verify
from stagekit.transforms._contract import Col, transform

__all__ = ["TARGET_FORMATS", "normalize_target", "strip_annotations", "to_grpo", "to_sft"]

#: ``to_sft``'s ``target_format`` values: ``"boxed"`` (:func:`normalize_target`) or ``None`` (as given).
TARGET_FORMATS = ("boxed", None)

_ANNOTATION = re.compile(r"<<[^<>\n]*>>")
_HASHES = re.compile(r"\n?[ \t]*####[ \t]*([^\n]*?)[ \t]*\Z")
_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


def strip_annotations(text: str) -> str:
    """Remove GSM8K's calculator annotations: ``48/2 = <<48/2=24>>24`` becomes ``48/2 = 24``.

    >>> strip_annotations("She sold 48/2 = <<48/2=24>>24 clips.")
    'She sold 48/2 = 24 clips.'
    """
    return _ANNOTATION.sub("", text)


def _last_box(text: str) -> str | None:
    """The content of the last closed ``\\boxed{...}`` / ``\\fbox{...}`` (braces matched), or None."""
    for m in reversed(list(_BOX.finditer(text))):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0) if text[i - 1] != "\\" else 0
            i += 1
        if depth == 0:
            return text[m.end() : i - 1].strip()
    return None


def normalize_target(text: str) -> str:
    r"""One format for SFT targets, the one GRPO's format reward pays for: calculator annotations
    (``<<48/2=24>>``) removed, and the final answer stated last in a ``\boxed{}``.

    A target whose final answer (as :func:`stagekit.extract_answer` reads it) is already its last box is
    kept as it is; otherwise a GSM8K ``#### 72`` last line is replaced, or any other final answer is
    restated, by ``The final answer is $\boxed{72}$.``. The final answer never changes: a text without one
    is left as it is (annotations aside), and a rewrite that would not verify against the original answer
    is not made.

    >>> normalize_target("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72")
    'Natalia sold 48/2 = 24 clips in May.\nThe final answer is $\\boxed{72}$.'
    >>> normalize_target("11 + 2 = 13\nThe final answer is $\\boxed{13}$.")
    '11 + 2 = 13\nThe final answer is $\\boxed{13}$.'
    >>> normalize_target("So she has 5 apples. The answer is 5.")
    'So she has 5 apples. The answer is 5.\nThe final answer is $\\boxed{5}$.'
    """
    text = strip_annotations(text)
    answer = _verify.extract_answer(text)
    if answer is None or _last_box(text) == answer.strip():
        return text
    m = _HASHES.search(text)
    body = text[: m.start()] if m and m.group(1).strip() == answer.strip() else text.rstrip()
    out = f"{body}\nThe final answer is $\\boxed{{{answer.strip()}}}$."
    if _last_box(out) != answer.strip() or not _verify.verify(out, answer):
        return text
    return out

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
_MESSAGES = pa.list_(_MESSAGE)


def _turns(system: str | None, *pairs: tuple[str, str | None]) -> list[dict[str, str]]:
    out = [{"role": "system", "content": system}] if system else []
    out.extend({"role": r, "content": c or ""} for r, c in pairs)
    return out


def _kept(table: pa.Table, keep: Iterable[str], where: str) -> dict[str, pa.ChunkedArray]:
    out = {}
    for c in keep:
        if c not in table.column_names:
            raise ValueError(f"{where}: keep names column {c!r}, which is not present ({', '.join(table.column_names)})")
        out[c] = table[c]
    return out


@transform(
    reads=[
        Col("prompt", "string", nulls="an empty user turn"),
        Col("completion", "string", nulls="an empty assistant turn"),
    ],
    writes=[
        ("messages", "list<struct<role, content>> (format='messages')"),
        ("prompt, completion", "list<struct<role, content>> each (format='prompt_completion')"),
        ("<keep columns>", "passed through"),
    ],
)
def to_sft(
    table: pa.Table,
    *,
    format: str = "messages",
    prompt: str = "prompt",
    completion: str = "completion",
    system: str | None = None,
    keep: Iterable[str] = (),
    target_format: str | None = "boxed",
) -> pa.Table:
    r"""The conversational dataset trl's ``SFTTrainer`` takes.

    ``target_format="boxed"`` (the default) passes every completion through :func:`normalize_target`
    (calculator annotations removed, the final answer stated last in a ``\boxed{}``), so teacher traces,
    Bridge targets and CFT records all teach the format GRPO's format reward pays for; ``None`` keeps
    them as they are.

    ``format="messages"``: one ``messages`` column (optional system turn, user prompt, assistant
    completion). ``format="prompt_completion"``: conversational ``prompt`` and ``completion`` columns, so the
    trainer computes the loss on the completion only. For CFT records pass ``completion="response"``; for
    Bridge targets ``completion="target"``.

    >>> import pyarrow as pa
    >>> to_sft(pa.table({"prompt": ["2+2?"], "completion": ["2 + 2 = <<2+2=4>>4\n#### 4"]}))["messages"].to_pylist()
    [[{'role': 'user', 'content': '2+2?'}, {'role': 'assistant', 'content': '2 + 2 = 4\nThe final answer is $\\boxed{4}$.'}]]
    """
    if target_format not in TARGET_FORMATS:
        raise ValueError(f"to_sft: target_format must be 'boxed' or None, got {target_format!r}")
    ps, cs = table[prompt].to_pylist(), table[completion].to_pylist()
    if target_format == "boxed":
        cs = [None if c is None else normalize_target(c) for c in cs]
    extra = _kept(table, keep, "to_sft")
    written = {"messages"} if format == "messages" else {"prompt", "completion"}
    clash = written & set(extra)
    if clash:
        raise ValueError(f"to_sft: keep names {sorted(clash)}, which format={format!r} writes; rename them first")
    if format == "messages":
        msgs = [_turns(system, ("user", p), ("assistant", c)) for p, c in zip(ps, cs, strict=True)]
        return pa.table({"messages": pa.array(msgs, _MESSAGES), **extra})
    if format == "prompt_completion":
        pr = [_turns(system, ("user", p)) for p in ps]
        co = [_turns(None, ("assistant", c)) for c in cs]
        return pa.table({"prompt": pa.array(pr, _MESSAGES), "completion": pa.array(co, _MESSAGES), **extra})
    raise ValueError(f"to_sft: format must be 'messages' or 'prompt_completion', got {format!r}")


@transform(
    reads=[Col("prompt", "string", nulls="an empty user turn")],
    writes=[
        ("prompt", "list<struct<role, content>>: the conversational prompt"),
        ("<other columns>", "passed through (the gold answer column reaches the reward functions)"),
    ],
)
def to_grpo(table: pa.Table, *, prompt: str = "prompt", system: str | None = None) -> pa.Table:
    """The conversational dataset trl's ``GRPOTrainer`` takes: ``prompt`` as a list of messages, every
    other column (``answer``, ``problem_id``, ...) kept, since GRPOTrainer passes dataset columns to the
    reward functions as keyword arguments.

    >>> import pyarrow as pa
    >>> to_grpo(pa.table({"prompt": ["2+2?"], "answer": ["4"]})).to_pylist()
    [{'prompt': [{'role': 'user', 'content': '2+2?'}], 'answer': '4'}]
    """
    msgs = pa.array([_turns(system, ("user", p)) for p in table[prompt].to_pylist()], _MESSAGES)
    out = table.set_column(table.column_names.index(prompt), "prompt", msgs)
    if prompt != "prompt" and "prompt" in table.column_names:
        raise ValueError(f"to_grpo: table has both {prompt!r} and 'prompt'; drop one first")
    return out
