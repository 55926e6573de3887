"""Pure Arrow transforms: tables in, tables out, no I/O, no state (see ``_contract``)."""

from stagekit.transforms._contract import GOLD_FALLBACK, Col, SchemaError, as_table, explode, pipe, resolve_column, transform
from stagekit.transforms.bridge import BRIDGE_TEMPLATE, bridge_prompts, select_bridge
from stagekit.transforms.cft import CFT_KINDS, CFTWarning, cft_records, diagnose
from stagekit.transforms.difficulty import (
    SCHEMES,
    STAGES,
    bin_difficulty,
    pass_at_k,
    pass_counts,
    pass_rates,
    pass_rates_from_counts,
    split_stages,
    sum_counts,
)
from stagekit.transforms.formats import normalize_target, to_grpo, to_sft
from stagekit.transforms.groups import persistent_failures, zero_reward_groups
from stagekit.transforms.overlap import mark_overlap, normalize_text
from stagekit.transforms.score import score, score_batches
from stagekit.transforms.segment import METHODS, segment_steps, split_trace

__all__ = [
    "BRIDGE_TEMPLATE",
    "CFT_KINDS",
    "CFTWarning",
    "METHODS",
    "SCHEMES",
    "STAGES",
    "Col",
    "GOLD_FALLBACK",
    "SchemaError",
    "as_table",
    "bin_difficulty",
    "bridge_prompts",
    "cft_records",
    "diagnose",
    "explode",
    "mark_overlap",
    "normalize_text",
    "persistent_failures",
    "normalize_target",
    "pass_at_k",
    "pass_counts",
    "pass_rates",
    "pass_rates_from_counts",
    "pipe",
    "resolve_column",
    "score",
    "score_batches",
    "segment_steps",
    "select_bridge",
    "split_stages",
    "split_trace",
    "sum_counts",
    "to_grpo",
    "to_sft",
    "transform",
    "zero_reward_groups",
]
