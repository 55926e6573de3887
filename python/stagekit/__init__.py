r"""stagekit: the data side of SFT-then-RL post-training for small reasoning models.

>>> import stagekit as sk
>>> sk.verify("... so the answer is $\\boxed{\\dfrac{3}{4}}$.", "0.75")
True

Heavy integrations (torch, trl, vllm, ray) are optional extras imported only where used; importing
``stagekit`` loads the Rust core and nothing else.
"""

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # what the lazy attributes below resolve to, for pyright, mypy and IDEs
    from stagekit import evaluate as evaluate
    from stagekit import models as models
    from stagekit.generate.base import generate as generate  # `sk.generate` is the module, callable as this
    from stagekit.integrations import trl as trl
    from stagekit.models import default_model as default_model
    # (from the defining modules: `stagekit.transforms.score` is also a submodule's name, which mypy would
    # take for `stagekit.transforms`' attribute)
    from stagekit.transforms import SchemaError as SchemaError
    from stagekit.transforms import pipe as pipe
    from stagekit.transforms.bridge import BRIDGE_TEMPLATE as BRIDGE_TEMPLATE
    from stagekit.transforms.bridge import bridge_prompts as bridge_prompts
    from stagekit.transforms.bridge import select_bridge as select_bridge
    from stagekit.transforms.cft import CFT_KINDS as CFT_KINDS
    from stagekit.transforms.cft import CFTWarning as CFTWarning
    from stagekit.transforms.cft import cft_records as cft_records
    from stagekit.transforms.cft import diagnose as diagnose
    from stagekit.transforms.difficulty import SCHEMES as SCHEMES
    from stagekit.transforms.difficulty import STAGES as STAGES
    from stagekit.transforms.difficulty import bin_difficulty as bin_difficulty
    from stagekit.transforms.difficulty import pass_at_k as pass_at_k
    from stagekit.transforms.difficulty import pass_counts as pass_counts
    from stagekit.transforms.difficulty import pass_rates as pass_rates
    from stagekit.transforms.difficulty import pass_rates_from_counts as pass_rates_from_counts
    from stagekit.transforms.difficulty import split_stages as split_stages
    from stagekit.transforms.difficulty import sum_counts as sum_counts
    from stagekit.transforms.formats import normalize_target as normalize_target
    from stagekit.transforms.formats import to_grpo as to_grpo
    from stagekit.transforms.formats import to_sft as to_sft
    from stagekit.transforms.groups import persistent_failures as persistent_failures
    from stagekit.transforms.groups import zero_reward_groups as zero_reward_groups
    from stagekit.transforms.overlap import mark_overlap as mark_overlap
    from stagekit.transforms.overlap import normalize_text as normalize_text
    from stagekit.transforms.score import score as score
    from stagekit.transforms.score import score_batches as score_batches
    from stagekit.transforms.segment import segment_steps as segment_steps
    from stagekit.transforms.segment import split_trace as split_trace

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
    "normalize_target",
    "normalize_text",
    "pass_at_k",
    "pass_counts",
    "pass_rates",
    "pass_rates_from_counts",
    "persistent_failures",
    "pipe",
    "score",
    "score_batches",
    "segment_steps",
    "select_bridge",
    "split_stages",
    "split_trace",
    "sum_counts",
    "to_grpo",
    "to_sft",
    "zero_reward_groups",
)


# Integrations and backends, also loaded on first use (none imports torch, trl or vllm until used).
_LAZY_MODULES = {"evaluate": "stagekit.evaluate", "generate": "stagekit.generate", "trl": "stagekit.integrations.trl",
                 "models": "stagekit.models"}


if not TYPE_CHECKING:  # type checkers see the imports above, so a misspelt `sk.scroe` is an error there

    def __getattr__(name: str) -> object:  # PEP 562: lazy attributes
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


# (a literal list, which type checkers read; tests/test_typing.py checks it against the names above)
__all__ = [
    "BRIDGE_TEMPLATE",
    "CFT_KINDS",
    "CFTWarning",
    "DEFAULT_REL_TOL",
    "MAX_ANSWER_BYTES",
    "MAX_DEPTH",
    "MAX_THREADS",
    "SCHEMES",
    "STAGES",
    "STATUSES",
    "SchemaError",
    "Status",
    "Verdict",
    "VerifierError",
    "__version__",
    "bin_difficulty",
    "bridge_prompts",
    "cft_records",
    "check",
    "check_batch",
    "compare",
    "default_model",
    "diagnose",
    "evaluate",
    "extract_answer",
    "extract_gold",
    "generate",
    "mark_overlap",
    "models",
    "normalize_answer",
    "normalize_target",
    "normalize_text",
    "pass_at_k",
    "pass_counts",
    "pass_rates",
    "pass_rates_from_counts",
    "persistent_failures",
    "pipe",
    "score",
    "score_batches",
    "segment_steps",
    "select_bridge",
    "split_stages",
    "split_trace",
    "sum_counts",
    "to_grpo",
    "to_sft",
    "trl",
    "verify",
    "verify_batch",
    "zero_reward_groups",
]
