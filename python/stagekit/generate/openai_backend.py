"""Generation through any OpenAI-compatible server (vLLM serve, SGLang, llama.cpp server,
``transformers serve``): bounded concurrency, retries with backoff, timeouts, clear errors."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stagekit.generate.base import GenerationError, Prompt, Sampling, progress

__all__ = ["OpenAIGenerator"]

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIGenerator:
    """Sample from an OpenAI-compatible server over HTTP (standard library only).

    ``base_url`` is the server root (``http://127.0.0.1:8000`` or ``.../v1``). ``chat=True`` uses
    ``/v1/chat/completions`` (text prompts become one user turn), ``chat=False`` ``/v1/completions``.
    Each of the ``n`` samples is its own request with seed ``seed + sample`` (many servers ignore ``n``),
    at most ``concurrency`` in flight; a failed request is retried ``max_retries`` times with exponential
    backoff on connection errors, timeouts and 408/429/5xx. A server that cannot be reached raises
    :class:`GenerationError` naming the URL.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        chat: bool = True,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("concurrency >= 1, max_retries >= 0 and timeout > 0 are required")
        root = base_url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else f"{root}/v1"
        self.model, self.api_key, self.chat = model, api_key, chat
        self.concurrency, self.timeout, self.max_retries, self.backoff = concurrency, timeout, max_retries, backoff

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/{'chat/completions' if self.chat else 'completions'}"

    def _body(self, prompt: Prompt, sampling: Sampling, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": seed,
            **sampling.extra,
        }
        if self.chat:
            body["messages"] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        else:
            body["prompt"] = prompt if isinstance(prompt, str) else "\n\n".join(m["content"] for m in prompt)
        return body

    def _post(self, body: dict[str, Any]) -> str:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(self.endpoint, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    payload = json.loads(resp.read())
                choice = payload["choices"][0]
                return choice["message"]["content"] if self.chat else choice["text"]
            except urllib.error.HTTPError as e:
                detail = e.read()[:300].decode(errors="replace")
                last = GenerationError(f"{self.endpoint} answered HTTP {e.code}: {detail}")
                if e.code not in _RETRY_STATUS:
                    raise last from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", e)
                last = GenerationError(f"cannot reach the OpenAI-compatible server at {self.endpoint}: {reason}")
            except (KeyError, IndexError, TypeError, json.JSONDecodeError) as e:
                raise GenerationError(f"{self.endpoint} returned an unexpected response: {e!r}") from None
        assert last is not None
        raise last

    def generate(self, prompts: Sequence[Prompt], *, n: int, sampling: Sampling) -> list[list[str]]:
        jobs = [(i, s) for i in range(len(prompts)) for s in range(n)]
        out: list[list[str]] = [[""] * n for _ in prompts]
        bar = progress(len(prompts), "generate (openai)", sampling.show_progress)
        done = [0] * len(prompts)

        def run(job: tuple[int, int]) -> tuple[int, int, str]:
            i, s = job
            return i, s, self._post(self._body(prompts[i], sampling, sampling.seed + s))

        try:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                for i, s, text in pool.map(run, jobs):
                    out[i][s] = text
                    done[i] += 1
                    if done[i] == n:
                        bar.update(1)
        finally:
            bar.close()
        return out
