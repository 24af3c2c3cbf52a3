"""A/B assignment: a stable hash of (experiment, user id) picks the variant, weighted."""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from itertools import accumulate


def bucket(experiment: str, user_id: int | str) -> float:
    """A number in [0, 1) that depends only on the experiment name and the user id."""
    digest = hashlib.sha256(f"{experiment}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: str, user_id: int | str, variants: list[str], weights: list[float]) -> str:
    """The user's variant; shares follow `weights`, and renaming the experiment reshuffles users."""
    bounds = list(accumulate(weights))
    position = bucket(experiment, user_id) * bounds[-1]
    return variants[min(bisect_right(bounds, position), len(variants) - 1)]
