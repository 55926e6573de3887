"""Adapters to the dataset shapes trl's SFTTrainer and GRPOTrainer take."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from stagekit.transforms._contract import Col, transform

__all__ = ["to_grpo", "to_sft"]

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
) -> pa.Table:
    """The conversational dataset trl's ``SFTTrainer`` takes.

    ``format="messages"``: one ``messages`` column (optional system turn, user prompt, assistant
    completion). ``format="prompt_completion"``: conversational ``prompt`` and ``completion`` columns, so the
    trainer computes the loss on the completion only. For CFT records pass ``completion="response"``; for
    Bridge targets ``completion="target"``.

    >>> import pyarrow as pa
    >>> to_sft(pa.table({"prompt": ["2+2?"], "completion": ["4"]}))["messages"].to_pylist()
    [[{'role': 'user', 'content': '2+2?'}, {'role': 'assistant', 'content': '4'}]]
    """
    ps, cs = table[prompt].to_pylist(), table[completion].to_pylist()
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
