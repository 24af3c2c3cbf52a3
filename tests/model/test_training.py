"""Two-stage training in memory: no-leakage windows, the ranker's labels, full lists with true reasons."""

import re

import numpy as np
import pandas as pd
import xgboost as xgb

from conf import load_config
from models.data import build_training_set
from models.explain import trending_text
from models.candidate_features import feature_names, recent_matrix
from models.ranker import Ranker
from models.recommend import FINAL, RANKER, recommend_users
from models.training import assemble, fit_generators, ranker_rows, split_for_ranker, stage_one
from tests.model.test_generators import _block_events, _catalog

CFG = load_config("local", {
    "workdir": "/tmp/unused",
    "models": {"candidates_per_generator": 15, "final_list_size": 10, "als": {"factors": 4, "iterations": 5},
               "als_tuning": {"factors": [2, 4], "regularization": [0.1]},
               "two_tower": {"dim": 8, "content_dim": 4, "epochs": 2, "samples_per_user": 5},
               "trending": {"window_days": 30, "baseline_days": 120, "min_viewers": 2}},
}, environ={})


def test_ranker_labels_come_strictly_after_each_users_generator_data():
    events = _block_events().assign(event_id=lambda f: [f"e{i}" for i in range(len(f))])
    fit, label = split_for_ranker(events, CFG)
    assert len(fit) + len(label) == len(events)
    assert set(fit["event_id"]).isdisjoint(label["event_id"])
    last_fit = fit.groupby("user_id")["ts"].max()
    first_label = label.groupby("user_id")["ts"].min()
    assert (first_label >= last_fit.reindex(first_label.index)).all()

    models, relevant, als, trials, users = stage_one(events, _catalog(), None, CFG)
    assert len(models.train.events) == len(fit), "stage-1 generators never see a label-window event"
    assert len(trials) == 2 and als.factors in (2, 4)
    rows = ranker_rows(models, users, relevant)
    assert rows["label"].sum() > 0
    labelled = rows[rows["label"] == 1]
    label_pairs = set(zip(models.train.user_index(label["user_id"].to_numpy()),
                          models.train.item_index(label["movie_id"].to_numpy())))
    assert all((q, i) in label_pairs for q, i in zip(labelled["qid"], labelled["item_idx"]))
    unlabelled = rows[rows["label"] == 0]
    assert not any((q, i) in label_pairs for q, i in zip(unlabelled["qid"], unlabelled["item_idx"]))
    assert not models.train.seen[rows["qid"].to_numpy(), rows["item_idx"].to_numpy()].any(), "fit-window items are never candidates"
    assert list(rows.columns[3:]) == feature_names(list(models.generators))


def _fitted(ranker=True):
    events = _block_events().assign(event_id=lambda f: [f"e{i}" for i in range(len(f))])
    stage1, relevant, als, _, users = stage_one(events, _catalog(), None, CFG)
    booster = None
    if ranker:
        rows = ranker_rows(stage1, users, relevant)
        names = feature_names(list(stage1.generators))
        model = xgb.XGBRanker(objective="rank:ndcg", n_estimators=10, max_depth=3)
        model.fit(rows[names], rows["label"], qid=rows["qid"])
        booster = Ranker(model.get_booster(), names)
    train = build_training_set(events, _catalog(), CFG.interactions)
    generators, reference, _ = fit_generators(train, CFG, als)
    return assemble(train, generators, reference, booster, CFG, None)


def test_every_reason_names_real_evidence():
    fitted = _fitted()
    out = recommend_users(fitted, np.array([0, 5, 30, -1]))
    final = out[out["list_name"] == FINAL]
    assert set(final["user_id"]) == {0, 5, 30, -1}
    assert (final.groupby("user_id").size() == CFG.models.final_list_size).all(), "full lists, new users included"
    titles = {t: i for i, t in enumerate(fitted.train.catalog.titles)}
    trending = trending_text(CFG.models.trending.window_days)
    for row in final.itertuples():
        user_idx = int(fitted.train.user_index(np.array([row.user_id]))[0])
        item_idx = int(fitted.train.item_index(np.array([row.movie_id]))[0])
        history = set(recent_matrix(fitted.context, np.array([user_idx]), 50)[0].tolist())
        if m := re.fullmatch(r"(?:Because you watched|New release like) (.+)", row.reason):
            assert titles[m.group(1)] in history, f"{row.reason!r} names a title user {row.user_id} watched"
        elif m := re.fullmatch(r"Popular with viewers who like (.+)", row.reason):
            assert m.group(1) in fitted.train.catalog.genres[item_idx]
            genre_col = fitted.context.genre_names.index(m.group(1))
            assert fitted.context.user_genres[user_idx, genre_col] > 0
        elif row.reason == trending:
            assert fitted.is_trending(np.array([item_idx]))[0]
        else:
            assert row.reason == "Popular with viewers overall"
    unknown = final[final["user_id"] == -1]
    assert not unknown["reason"].str.startswith("Because").any(), "no history, no 'because you watched'"


def test_ranker_and_final_lists_exclude_seen_items_and_rank_the_planted_item_high():
    fitted = _fitted()
    out = recommend_users(fitted, np.array([0]))
    for name in (RANKER, FINAL):
        items = fitted.train.item_index(out[out["list_name"] == name]["movie_id"].to_numpy())
        assert not fitted.train.seen[0, items].toarray().any()
    ranked = out[out["list_name"] == RANKER].sort_values("rank")["movie_id"].tolist()
    assert 0 in ranked[:3], "the held-out item of user 0's group is near the top"


def test_without_a_ranker_the_lists_fall_back_to_rank_fusion():
    fitted = _fitted(ranker=False)
    out = recommend_users(fitted, np.array([30]))
    fused = out[out["list_name"] == RANKER].sort_values("rank")
    assert (fused["movie_id"].head(2) >= 20).all(), "a romance fan still gets romances first"
    final = out[out["list_name"] == FINAL]
    assert len(final) == CFG.models.final_list_size
    assert pd.Series(final["slot"]).notna().all()


def test_als_grid_fits_on_a_seeded_user_sample():
    from models.training import relevance, tune_als, user_sample

    events = _block_events().assign(event_id=lambda f: [f"e{i}" for i in range(len(f))])
    fit, label = split_for_ranker(events, CFG)
    train = build_training_set(fit, _catalog(), CFG.interactions)
    relevant = relevance(train, label, CFG)
    sample, rel = user_sample(train, relevant, 12, seed=3)
    again, _ = user_sample(train, relevant, 12, seed=3)
    assert sample.n_users == 12 and rel.shape == (12, train.n_items) and sample.n_items == train.n_items
    assert (sample.user_ids == again.user_ids).all() and sample.weights.shape == (12, train.n_items)
    rows = train.user_index(sample.user_ids)
    assert (rel != relevant[rows]).nnz == 0 and (sample.seen != train.seen[rows]).nnz == 0
    small = CFG.model_copy(update={"models": CFG.models.model_copy(update={
        "als_tuning": CFG.models.als_tuning.model_copy(update={"max_users": 12})})})
    chosen, trials = tune_als(train, relevant, small)
    assert len(trials) == 2 and chosen.factors in (2, 4)
