"""Deterministic hypothesis settings shared by the property tests."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: Multiplies every test's example count (e.g. `STAGEKIT_PROPERTY_SCALE=20` for a long local hunt).
SCALE = float(os.environ.get("STAGEKIT_PROPERTY_SCALE", "1"))


def fixed(max_examples: int) -> settings:
    """Deterministic, database-free settings: the same examples on every run."""
    return settings(
        max_examples=max(1, int(max_examples * SCALE)),
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
