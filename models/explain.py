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

from models.candidate_features import FeatureContext

NON_PERSONAL = {"popularity", "trending"}
HISTORY_FOR_REASONS = 50


def trending_text(window_days: float) -> str:
    return "Trending this week" if round(window_days) == 7 else f"Trending in the last {round(window_days)} days"


def most_similar(ctx: FeatureContext, items: np.ndarray, history: np.ndarray) -> np.ndarray:
    """(users, n): for each user's row of `items` (-1 padded), the entry of the user's `history` row (-1
    padded) most similar to it; -1 where either is missing. One (n x history) product per user, batched."""
    unit = ctx.item_unit
    sims = np.matmul(unit[np.maximum(items, 0)], unit[np.maximum(history, 0)].transpose(0, 2, 1))   # (users, n, history)
    sims = np.where((history >= 0)[:, None, :], sims, -np.inf)
    if not history.shape[1]:
        return np.full(items.shape, -1)
    best = np.take_along_axis(history, sims.argmax(axis=2), axis=1)
    return np.where((history >= 0).any(axis=1)[:, None] & (items >= 0), best, -1)


def reasons(ctx: FeatureContext, titles: np.ndarray, users: np.ndarray, like: np.ndarray, items: np.ndarray,
            personal: np.ndarray, is_new: np.ndarray, is_trending: np.ndarray, trending_window_days: float) -> np.ndarray:
    """The reason text of each recommended (users[i], items[i]) (users -1 = unknown); `like` is the title in
    the user's last HISTORY_FOR_REASONS positives most similar to the item, -1 when the history is empty
    (see `most_similar`).

    In order of precedence: a new release or a personal model's pick is explained by the most similar
    title in the history; then trending; then the user's favourite among the item's genres; else overall
    popularity."""
    out = np.full(len(items), "Popular with viewers overall", dtype=object)
    if not len(items):
        return out
    by_title = (like >= 0) & (personal | is_new)
    if by_title.any():
        prefix = np.where(is_new[by_title], "New release like ", "Because you watched ").astype(object)
        out[by_title] = prefix + titles[like[by_title]]
    trending = ~by_title & is_trending
    out[trending] = trending_text(trending_window_days)
    by_genre = ~by_title & ~trending & (users >= 0)
    if by_genre.any():
        member = ctx.item_genres[items[by_genre]].toarray() > 0
        share = np.where(member, ctx.user_genres[users[by_genre]], -np.inf)
        best = share.argmax(axis=1)
        liked = share[np.arange(len(best)), best] > 0
        names = np.asarray(ctx.genre_names, dtype=object)
        texts = out[by_genre]
        texts[liked] = "Popular with viewers who like " + names[best[liked]]
        out[by_genre] = texts
    return out
