r"""stagekit: the data side of SFT-then-RL post-training for small reasoning models.

>>> import stagekit as sk
>>> sk.verify("... so the answer is $\\boxed{\\dfrac{3}{4}}$.", "0.75")
True

Heavy integrations (torch, trl, vllm, ray) are optional extras imported only where used; importing
``stagekit`` loads the Rust core and nothing else.
"""

from stagekit._core import __version__
from stagekit.verifier import (
    DEFAULT_REL_TOL,
    MAX_ANSWER_BYTES,
    MAX_DEPTH,
    MAX_THREADS,
    STATUSES,
    Status,
    Verdict,
    VerifierError,
    check,
    check_batch,
    compare,
    extract_answer,
    extract_gold,
    normalize_answer,
    verify,
    verify_batch,
)

# The transforms import pyarrow; they load on first use so `import stagekit` stays fast.
_TRANSFORMS = (
    "BRIDGE_TEMPLATE",
    "CFT_KINDS",
    "CFTWarning",
    "SCHEMES",
    "STAGES",
    "SchemaError",
    "bin_difficulty",
    "bridge_prompts",
    "cft_records",
    "diagnose",
    "mark_overlap",
    "normalize_text",
    "pass_at_k",
    "pass_rates",
    "persistent_failures",
    "pipe",
    "score",
    "segment_steps",
    "select_bridge",
    "split_stages",
    "split_trace",
    "to_grpo",
    "to_sft",
    "zero_reward_groups",
)


# Integrations and backends, also loaded on first use (none imports torch, trl or vllm until used).
_LAZY_MODULES = {"evaluate": "stagekit.evaluate", "generate": "stagekit.generate", "trl": "stagekit.integrations.trl",
                 "models": "stagekit.models"}


def __getattr__(name: str):  # PEP 562: lazy attributes
    import importlib

    if name in _TRANSFORMS:
        return getattr(importlib.import_module("stagekit.transforms"), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    if name == "default_model":
        return importlib.import_module("stagekit.models").default_model
    raise AttributeError(f"module 'stagekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_TRANSFORMS, *_LAZY_MODULES, "default_model"])


__all__ = [
    *_TRANSFORMS,
    *_LAZY_MODULES,
    "default_model",
    "DEFAULT_REL_TOL",
    "MAX_ANSWER_BYTES",
    "MAX_DEPTH",
    "MAX_THREADS",
    "STATUSES",
    "Status",
    "Verdict",
    "VerifierError",
    "__version__",
    "check",
    "check_batch",
    "compare",
    "extract_answer",
    "extract_gold",
    "normalize_answer",
    "verify",
    "verify_batch",
]
