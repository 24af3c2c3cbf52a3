"""Reasons for recommended items, each naming the evidence behind it.

- "New release like <title>": released within the new-release window; <title> is the most similar
  title in the user's recent history.
- "Because you watched <title>": retrieved by a personal model; <title> is the most similar title
  in the user's recent history.
- "Trending this week": the trending generator scores it (viewers grew in its window).
- "Popular with viewers who like <genre>": <genre> is one of the item's genres and the one the user
  watches most among them.
- "Popular with viewers overall": none of the above.
"""

from __future__ import annotations

import numpy as np

from models.features import FeatureContext

NON_PERSONAL = {"popularity", "trending"}
HISTORY_FOR_REASONS = 50


def trending_text(window_days: float) -> str:
    return "Trending this week" if round(window_days) == 7 else f"Trending in the last {round(window_days)} days"


def reason(user_idx: int, history: np.ndarray, item: int, personal: bool, is_new: bool, is_trending: bool,
           ctx: FeatureContext, titles: np.ndarray, trending_window_days: float) -> tuple[str, int | None]:
    """(text, evidence item index or None) for recommending `item` to `user_idx` (-1 = unknown user), whose
    last HISTORY_FOR_REASONS positives, most recent first, are `history`."""
    if len(history) and (personal or is_new):
        like = int(history[int(np.argmax(ctx.similarity(np.array([item]), history)[0]))])
        if is_new:
            return f"New release like {titles[like]}", like
        return f"Because you watched {titles[like]}", like
    if is_trending:
        return trending_text(trending_window_days), None
    if user_idx >= 0:
        genres = ctx.item_genres[item].indices
        if len(genres):
            share = ctx.user_genres[user_idx, genres]
            if share.max() > 0:
                return f"Popular with viewers who like {ctx.genre_names[genres[int(np.argmax(share))]]}", None
    return "Popular with viewers overall", None
