"""Generation backends: sample k completions per problem from a student or teacher model.

``stagekit.generate`` is both this package and, called, :func:`~stagekit.generate.base.generate`:
``sk.generate(table, generator, n=8)``. Backends load their engines lazily: importing this package
imports no torch, transformers or vllm.
"""

import sys
import types
from typing import TYPE_CHECKING, Any

from stagekit.generate.base import GenerationError, Generator, Prompt, Sampling, generate
from stagekit.generate.openai_backend import OpenAIGenerator

if TYPE_CHECKING:  # loaded lazily below (they import torch / vllm when used)
    from stagekit.generate.transformers_backend import TransformersGenerator as TransformersGenerator
    from stagekit.generate.vllm_backend import VLLMGenerator as VLLMGenerator

__all__ = [
    "GenerationError",
    "Generator",
    "OpenAIGenerator",
    "Prompt",
    "Sampling",
    "TransformersGenerator",
    "VLLMGenerator",
    "generate",
]


if not TYPE_CHECKING:  # type checkers see the imports above

    def __getattr__(name: str) -> object:
        if name == "TransformersGenerator":
            from stagekit.generate.transformers_backend import TransformersGenerator

            return TransformersGenerator
        if name == "VLLMGenerator":
            from stagekit.generate.vllm_backend import VLLMGenerator

            return VLLMGenerator
        raise AttributeError(f"module 'stagekit.generate' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """Calling the module calls :func:`generate`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return generate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
