"""Human-readable reasons from a generator's evidence."""

from __future__ import annotations

from models.base import Reason


def reason_text(reason: Reason, titles) -> str:
    """`titles[item_idx]` gives a movie's title. Every sentence names the evidence behind it."""
    if reason.kind == "because_you_watched" and reason.item is not None:
        return f"Because you watched {titles[reason.item]}"
    if reason.kind == "popular" and reason.count:
        return f"Popular right now: {reason.count} viewers in the last {reason.days} days"
    return "Popular with viewers overall"
