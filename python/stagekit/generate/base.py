"""The generator protocol and ``generate``: k completions per problem, as the long rollout table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from stagekit.transforms import Col, transform

__all__ = ["GenerationError", "Generator", "Prompt", "Sampling", "generate", "progress"]

#: A prompt: plain text, or a conversation (a list of ``{"role", "content"}`` messages).
Prompt = str | list[dict[str, str]]


class GenerationError(RuntimeError):
    """A backend failed to generate (a server that cannot be reached, a model that cannot be loaded)."""


@dataclass(frozen=True)
class Sampling:
    """Sampling settings shared by every backend."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0
    show_progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


@runtime_checkable
class Generator(Protocol):
    """What ``generate`` needs of a backend: ``n`` completions for each prompt, in order.

    Implementations: :class:`~stagekit.generate.TransformersGenerator`,
    :class:`~stagekit.generate.VLLMGenerator`, :class:`~stagekit.generate.OpenAIGenerator`. Results must be
    identical for the same prompts, ``n`` and ``sampling.seed`` on the same backend and hardware.
    """

    name: str

    def generate(self, prompts: Sequence[Prompt], *, n: int, sampling: Sampling) -> list[list[str]]: ...


def progress(total: int, desc: str, enabled: bool = True) -> Any:
    """A progress bar (tqdm when installed and enabled; otherwise a no-op with the same methods)."""
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc=desc, unit="prompt", leave=False)
        except ImportError:
            pass

    class _Null:
        def update(self, n: int = 1) -> None: ...

        def close(self) -> None: ...

    return _Null()


def _prompt_values(col: pa.ChunkedArray) -> list[Prompt]:
    """Prompts as text or as lists of messages (a ``list<struct<role, content>>`` column)."""
    return col.to_pylist()


@transform(
    reads=[Col("prompt", "any", nulls="not allowed: a null prompt raises ValueError"), Col("problem_id", "any", required=False)],
    writes=[
        ("<input columns>", "passed through, repeated n times per problem"),
        ("problem_id", "the input's problem_id, or the row index when the input has none"),
        ("sample", "int32: 0..n-1"),
        ("completion", "string: the generated text"),
    ],
)
def generate(
    table: pa.Table,
    generator: Generator,
    *,
    n: int = 4,
    prompt: str = "prompt",
    problem_id: str = "problem_id",
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    seed: int = 0,
    show_progress: bool = True,
    extra: dict[str, Any] | None = None,
) -> pa.Table:
    """Sample ``n`` completions per row of ``table`` from ``generator``: the long rollout table that
    :func:`stagekit.score` takes (one row per completion: the input's columns, ``sample``, ``completion``).

    The ``prompt`` column holds text or conversations (lists of ``{role, content}`` messages, as
    :func:`stagekit.to_grpo` makes); chat models get text prompts wrapped as one user turn. ``extra``
    holds backend-specific sampling fields (``generate`` keyword arguments for transformers, request body
    fields for an OpenAI-compatible server, ``SamplingParams`` fields for vLLM).
    """
    if n < 1:
        raise ValueError(f"generate: n must be >= 1, got {n}")
    if not isinstance(generator, Generator):
        raise TypeError(f"generate: {type(generator).__name__} does not implement the Generator protocol")
    prompts = _prompt_values(table[prompt])
    missing = [i for i, p in enumerate(prompts) if p is None]
    if missing:
        raise ValueError(f"generate: column {prompt!r} is null in {len(missing)} rows (first: row {missing[0]})")
    sampling = Sampling(
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        seed=seed,
        show_progress=show_progress,
        extra=dict(extra or {}),
    )
    outs = generator.generate(prompts, n=n, sampling=sampling) if prompts else []
    if len(outs) != len(prompts) or any(len(o) != n for o in outs):
        raise GenerationError(f"{generator.name}: expected {n} completions for each of {len(prompts)} prompts")
    base = table
    if problem_id not in base.column_names:
        base = base.append_column(problem_id, pa.array(range(base.num_rows), pa.int64()))
    idx = pa.array([i for i in range(len(prompts)) for _ in range(n)], pa.int64())
    out = base.take(idx)
    for name in ("sample", "completion"):
        if name in out.column_names:
            out = out.drop_columns([name])
    out = out.append_column("sample", pa.array([s for _ in prompts for s in range(n)], pa.int32()))
    return out.append_column("completion", pa.array([c for o in outs for c in o], pa.string()))
