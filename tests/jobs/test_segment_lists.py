"""Users known only by their profile, and onboarding requests, through publish and the API: a user of the users
table with no events is served their segment's list, flagged; an unknown user who names genres gets those genres'
lists merged, with no store write; an unknown genre gets the fallback."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from data_contracts import columns as S
from jobs import lake, runs
from jobs.publish import BUCKET, Version, stage_version, write_version
from models.segments import GENRE_PREFIX, SEGMENT_PREFIX
from serving.app import create_app
from serving.store import OnlineLists, open_store
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark

NEW_USER = 987_654      # in the users table, no event
STRANGER = 987_655      # in neither


@pytest.fixture(scope="module")
def served(published, spark, tmp_path_factory):
    """The tiny run's lists staged from a lake where the users table has one more user (the others' tables
    linked, not copied), published to a store of its own, and the API over it."""
    cfg, _ = published
    state = runs.load_state(cfg, "tiny-run")
    root = tmp_path_factory.mktemp("lake")
    own = tiny_config(tmp_path_factory.mktemp("segments"), lake_root=str(root))
    for layer, name in (("silver", "movies"), ("gold", "ranked_lists"), ("gold", "similar_movies")):
        (root / layer).mkdir(exist_ok=True)
        os.symlink(cfg.table_path(layer, name), own.table_path(layer, name))
    users = lake.read(spark, cfg.table_path("silver", "users"), state["silver_versions"]["users"])
    extra = spark.createDataFrame([(NEW_USER, "F", 30)], f"{S.USER_ID} long, gender string, age long")
    users.unionByName(extra, allowMissingColumns=True).write.format("delta").save(own.table_path("silver", "users"))
    state = {**state, "silver_versions": {**state["silver_versions"], "users": 0}}
    version = stage_version(own, spark, "tiny-run", state, version="seg", path=str(tmp_path_factory.mktemp("staged")))
    lists = pd.read_parquet(version.lists.path).drop(columns=BUCKET)
    write_version(own, Version("seg", lists, pd.read_parquet(version.similar.path).drop(columns=BUCKET),
                               pd.read_parquet(version.cards.path).drop(columns=BUCKET)))
    with TestClient(create_app(own)) as client:
        yield own, state, lists, client


def test_publish_points_a_profile_only_user_at_their_segments_list(served):
    own, state, lists, _ = served
    pointers = lists[lists["list_key"].str.endswith(f":{NEW_USER}")]
    assert sorted(pointers["list_key"]) == sorted(f"seg:{v}:{NEW_USER}" for v in own.experiment.variants)
    assert set(pointers["segment"]) == {"gender=F|age=25-34"} and all(len(m) == 0 for m in pointers["movie_ids"])
    personal = lists[~lists["list_key"].str.contains("__") & ~lists["list_key"].str.endswith(f":{NEW_USER}")]
    assert (personal["segment"] == "").all() and personal["movie_ids"].map(len).gt(0).all()
    audiences = state["audiences_full"]
    assert any(k.startswith(SEGMENT_PREFIX) for k in audiences.values()) and any(k.startswith(GENRE_PREFIX) for k in audiences.values())
    for key in audiences.values():    # every segment and genre list is published in every variant
        for variant in own.experiment.variants:
            assert lists["list_key"].eq(f"seg:{variant}:{key}").sum() == 1, key


def test_the_api_serves_the_segment_list_flagged(served):
    own, _, _, client = served
    body = client.get(f"/v1/users/{NEW_USER}/recommendations", params={"k": 5, "variant": "control"}).json()
    assert body["segment"] == "gender=F|age=25-34" and body["fallback"] is False
    stored = OnlineLists(open_store(own)).user_list("seg", "control", SEGMENT_PREFIX + "gender=F|age=25-34")
    assert [i["movie_id"] for i in body["items"]] == stored.movie_ids[:5]
    assert body["items"][0]["reason"] in {"Popular with viewers like you", *map(lambda i: json.loads(i)["reason"], stored.items)}
    # A user with a list of their own is not flagged.
    own_user = client.get("/v1/users/1/recommendations").json()
    assert own_user["segment"] is None and own_user["fallback"] is False


def test_onboarding_merges_the_picked_genres_lists_in_turn(served):
    own, _, _, client = served
    lists = OnlineLists(open_store(own))
    comedy = lists.user_list("seg", "control", f"{GENRE_PREFIX}Comedy|age=25-34")
    drama = lists.user_list("seg", "control", f"{GENRE_PREFIX}Drama|age=25-34")
    body = client.get(f"/v1/users/{STRANGER}/recommendations",
                      params={"genres": "Comedy, Drama", "age": 31, "k": 6, "variant": "control"}).json()
    assert body["segment"] == "genres=Comedy,Drama|age=25-34" and body["fallback"] is False
    ids = [i["movie_id"] for i in body["items"]]
    assert [i["rank"] for i in body["items"]] == list(range(1, len(ids) + 1)) and len(set(ids)) == len(ids) == 6
    assert ids[0] == comedy.movie_ids[0] and ids[1] == (drama.movie_ids[0] if drama.movie_ids[0] != ids[0] else drama.movie_ids[1])
    assert all({"Comedy", "Drama"} & set(i["genres"]) for i in body["items"])
    # Without an age: the any-age lists; an unknown genre is left out; none known: the fallback, unflagged.
    assert client.get(f"/v1/users/{STRANGER}/recommendations", params={"genres": "Comedy,Nope"}).json()["segment"] == "genres=Comedy"
    none_known = client.get(f"/v1/users/{STRANGER}/recommendations", params={"genres": "Nope"}).json()
    assert none_known["fallback"] is True and none_known["segment"] is None
    # The genres do not replace a known user's own list.
    assert client.get("/v1/users/1/recommendations", params={"genres": "Comedy"}).json()["segment"] is None
