"""Generation with vLLM's offline engine (GPU; extra ``vllm``, imported only when used)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stagekit.generate.base import Prompt, Sampling

__all__ = ["VLLMGenerator"]


class VLLMGenerator:
    """Sample with ``vllm.LLM``: all prompts in one call, ``n`` samples each (``SamplingParams.n``), chat
    templates applied by ``LLM.chat`` for conversations and text prompts alike (``chat=True``)."""

    name = "vllm"

    def __init__(self, model: str, *, chat: bool = True, **llm_kwargs: Any) -> None:
        try:
            from vllm import LLM  # pyright: ignore[reportMissingModuleSource]  (the `vllm` extra, GPU only)
        except ImportError as e:  # pragma: no cover - GPU machines only
            raise ImportError("VLLMGenerator needs the `vllm` extra (and a GPU): pip install 'stagekit[vllm]'") from e
        self.chat = chat
        self.llm = LLM(model=model, **llm_kwargs)

    def generate(self, prompts: Sequence[Prompt], *, n: int, sampling: Sampling) -> list[list[str]]:
        from vllm import SamplingParams  # pyright: ignore[reportMissingModuleSource]

        params = SamplingParams(
            n=n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            seed=sampling.seed,
            **sampling.extra,
        )
        if self.chat:
            convs = [[{"role": "user", "content": p}] if isinstance(p, str) else p for p in prompts]
            results = self.llm.chat(convs, params, use_tqdm=sampling.show_progress)
        else:
            texts = [p if isinstance(p, str) else "\n\n".join(m["content"] for m in p) for p in prompts]
            results = self.llm.generate(texts, params, use_tqdm=sampling.show_progress)
        return [[o.text for o in r.outputs] for r in results]
