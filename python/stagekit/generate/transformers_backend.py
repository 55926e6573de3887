"""Generation with Hugging Face transformers (CPU or GPU)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stagekit.generate.base import GenerationError, Prompt, Sampling, progress

__all__ = ["TransformersGenerator"]


class TransformersGenerator:
    """Sample from a causal LM with ``transformers``: batched, left-padded, chat templates applied.

    ``model`` is a path or hub id (loaded with ``AutoModelForCausalLM``) or a loaded model (then pass
    ``tokenizer``). ``batch_size`` counts prompts; each prompt's ``n`` samples are drawn together
    (``num_return_sequences``). The same seed, prompts and batch size give the same completions.
    """

    name = "transformers"
    model: Any  # a transformers causal LM (typed loosely: its generate() is attached by a mixin)

    def __init__(
        self,
        model: str | Path | Any,
        *,
        tokenizer: Any = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 8,
        chat_template: bool | None = None,
    ) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("TransformersGenerator needs the `trl` extra: pip install 'stagekit[trl]'") from e
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if isinstance(model, (str, Path)):
            path = str(model)
            try:
                self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
                kwargs: dict[str, Any] = {}
                if dtype:
                    kwargs["dtype"] = getattr(torch, dtype)
                self.model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
            except OSError as e:
                raise GenerationError(f"cannot load model {path!r}: {e}") from e
        else:
            if tokenizer is None:
                raise ValueError("TransformersGenerator: pass `tokenizer` with a loaded model")
            self.model, self.tokenizer = model, tokenizer
        self.model.to(self.device)
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size = batch_size
        has_template = getattr(self.tokenizer, "chat_template", None) is not None
        self.chat_template = has_template if chat_template is None else chat_template
        if self.chat_template and not has_template:
            raise ValueError("TransformersGenerator: chat_template=True but the tokenizer has no chat template")

    def _render(self, prompt: Prompt) -> str:
        if not self.chat_template:
            if isinstance(prompt, str):
                return prompt
            return "\n\n".join(m["content"] for m in prompt)
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: Sequence[Prompt], *, n: int, sampling: Sampling) -> list[list[str]]:
        torch = self._torch
        texts = [self._render(p) for p in prompts]
        out: list[list[str]] = []
        bar = progress(len(texts), "generate (transformers)", sampling.show_progress)
        gen = torch.Generator(device="cpu").manual_seed(sampling.seed)
        try:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=not self.chat_template)
                enc = {k: v.to(self.device) for k, v in enc.items()}
                # One seed per batch, drawn from the run's seed: results do not depend on earlier batches'
                # lengths, and a batch is reproducible on its own.
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                do_sample = sampling.temperature > 0
                kwargs: dict[str, Any] = {
                    "max_new_tokens": sampling.max_new_tokens,
                    "num_return_sequences": n,
                    "do_sample": do_sample,
                    "pad_token_id": self.tokenizer.pad_token_id,
                }
                if do_sample:
                    kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
                elif n > 1:
                    raise ValueError("temperature=0 (greedy) gives identical samples: use n=1 or temperature > 0")
                kwargs.update(sampling.extra)
                with torch.no_grad():
                    seqs = self.model.generate(**enc, **kwargs)
                new = seqs[:, enc["input_ids"].shape[1] :]
                decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
                for i in range(len(batch)):
                    out.append(decoded[i * n : (i + 1) * n])
                bar.update(len(batch))
        finally:
            bar.close()
        return out
