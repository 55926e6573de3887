r"""stagekit: the data side of SFT-then-RL post-training for small reasoning models.

>>> import stagekit as sk
>>> sk.verify("... so the answer is $\\boxed{\\dfrac{3}{4}}$.", "0.75")
True

Heavy integrations (torch, trl, vllm, ray) are optional extras imported only where used; importing
``stagekit`` loads the Rust core and nothing else.
"""

from stagekit._core import __version__
from stagekit.verify import (
    DEFAULT_REL_TOL,
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

__all__ = [
    "DEFAULT_REL_TOL",
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
