"""Store reads on the event loop's thread (SQLite): the same rows as Feast's `online_read`, and a read that gives up
inline is read again on the pool, where the store deadline bounds it."""

import asyncio

import pytest

from serving.metrics import Metrics
from serving.reader import Reader
from serving.store import FALLBACK, InlineGaveUp, OnlineLists, open_store

pytestmark = pytest.mark.spark


def test_inline_rows_equal_feasts_online_read(published):
    cfg, _ = published
    lists = OnlineLists(open_store(cfg))
    assert lists.reads_inline
    manifest = lists.manifest()
    with pytest.raises(InlineGaveUp, match="catalogue"):
        lists.user_list(manifest.version, "control", 5, inline=True)  # the version's catalogue is read off the loop
    assert lists.user_list(manifest.version, "control", 5).field("title")[0], "items carry their movie's card"
    for variant in manifest.arms:
        for user in [0, 1, 5, 17, FALLBACK, 987654321]:
            assert lists.user_list(manifest.version, variant, user, inline=True) == lists.user_list(manifest.version, variant, user)
    assert lists.user_list(manifest.version, "control", 5, inline=True) is not None, "a real row is compared"
    movies = lists.user_list(manifest.version, "control", FALLBACK).movie_ids[:5] + [999_999_999]
    for movie in movies:
        assert lists.similar(manifest.version, movie, inline=True) == lists.similar(manifest.version, movie)
        assert lists.card(manifest.version, movie, inline=True) == lists.card(manifest.version, movie)
    assert lists.card(manifest.version, movies[0], inline=True) is not None


def test_an_inline_read_that_runs_past_its_budget_is_read_again_on_the_pool(published):
    cfg, _ = published
    reader = Reader(OnlineLists(open_store(cfg)), ttl_seconds=60, timeout_seconds=0.05, metrics=Metrics())
    assert reader.inline

    async def scenario():
        async with reader.running():
            manifest = reader.manifest
            pooled, calls = reader._call, []

            async def counted(*args, **kwargs):
                calls.append(args[0].__name__)
                return await pooled(*args, **kwargs)

            reader._call = counted
            own = await reader.user_list(manifest, "control", 5)
            assert own.movie_ids and calls == [], "answered inline, without the pool"
            # Every SQLite step past the budget, as a slow disk or a huge row would be: the read gives up at once.
            reader.lists._inline.deadline = 0.0
            reader.lists._inline.budget = -1.0
            reader.lists._inline.conn.set_progress_handler(lambda: True, 1)
            with pytest.raises(InlineGaveUp):
                reader.lists.user_list(manifest.version, "control", 5, inline=True)
            assert await reader.user_list(manifest, "control", 5) == own
            assert calls == ["user_list"], "read again on the pool, under the deadline"

    asyncio.run(scenario())
