"""VLLMGenerator on a GPU machine: the default model, its outputs scored. Skips cleanly without one."""

from __future__ import annotations

import importlib.util

import pyarrow as pa
import pytest

import stagekit as sk
from e2e_helpers import arithmetic_problems


def _gpu() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (extra `vllm`)")
@pytest.mark.skipif(not _gpu(), reason="no CUDA GPU: vLLM needs one")
def test_vllm_generator_scores():
    from stagekit.generate import VLLMGenerator

    gen = VLLMGenerator(str(sk.default_model()), gpu_memory_utilization=0.3, seed=0)
    problems = pa.Table.from_pylist(arithmetic_problems(8))
    rollouts = sk.generate(problems, gen, n=4, max_new_tokens=32, temperature=0.8, seed=1)
    assert rollouts.num_rows == 32
    stats = sk.pass_rates(sk.score(rollouts), k=(1, 4))
    assert stats["n"].to_pylist() == [4] * 8
