"""Fitting a full model set: generators, the ALS grid on the label window, the ranker's training rows.

The ranker must learn from labels later than what its generators saw, so training is two-staged:
stage 1 fits the generators on each user's earlier events and labels candidates with the user's
later events (the label window); stage 2 refits the generators on everything and applies the
ranker trained in stage 1.

Feature-store features come through `store_at`: given (user_id, event_timestamp) rows it returns
the user's features as of that time (a point-in-time join); stage 1 asks for each user's features
as of the start of their label window.
"""

from __future__ import annotations

import time
from dataclasses import replace
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from scipy import sparse

from conf.settings import AlsConfig, Config
from data_contracts import columns as C
from models.als import ALSGenerator
from models.base import CandidateGenerator
from models.data import TrainingSet, build_training_set
from models.candidate_features import StoreFeatures, build_context, candidates, feature_names, store_features
from models.metrics import ranking_metrics
from models.ranker import Ranker, labels
from models.recommend import FittedModels
from models.registry import REFERENCE, build_generator
from models.segments import fit_segments
from models.split import held_out_relevant, hold_out

SCORING_SAMPLE_USERS = 1000

StoreLookup = Callable[[pd.DataFrame], pd.DataFrame]
# Wraps the loop over the generators' names: jobs/train.py shows its progress.
EachName = Callable[[list[str]], Iterable[str]]


def lookup_store(store_at: StoreLookup | None, train: TrainingSet, times: pd.Series, genres: list[str]) -> StoreFeatures:
    """Store features of the users in `times` (user_id -> timestamp) as of their time."""
    if store_at is None or times.empty:
        return store_features(None, train, genres)
    rows = pd.DataFrame({C.USER_ID: times.index.to_numpy(dtype=np.int64), "event_timestamp": times.to_numpy()})
    return store_features(store_at(rows), train, genres)


def relevance(train: TrainingSet, later: pd.DataFrame, cfg: Config) -> sparse.csr_matrix:
    """(train users x train items) 1 where the user has a relevant event on the item in `later` (by the
    evaluation protocol's rule)."""
    rel = later[held_out_relevant(later, cfg.evaluation.protocol, cfg.interactions)]
    users, items = train.user_index(rel[C.USER_ID].to_numpy()), train.item_index(rel[C.MOVIE_ID].to_numpy())
    keep = (users >= 0) & (items >= 0)
    matrix = sparse.csr_matrix((np.ones(keep.sum(), dtype=np.int8), (users[keep], items[keep])),
                               shape=(train.n_users, train.n_items))
    matrix.data[:] = 1
    return matrix


def fit_generators(train: TrainingSet, cfg: Config, als: AlsConfig | None = None,
                   with_reference: bool = True, each: EachName = iter, fitted_before: dict | None = None
                   ) -> tuple[dict, dict, dict]:
    """(generators, reference, fit seconds per model): every configured generator plus, with
    `with_reference`, the EASE reference when it is not one of them. The loop over their names goes through `each`.

    A SASRec network in `fitted_before` (stage 1's, or the eval split's) scores `train`'s sequences as it is unless
    `models.sasrec.refit`: the sequential model's input is the user's latest items, so a network trained without the
    last ones still reads them (the original protocol trains without the validation and test items, and scores with
    them), and one fit a run costs a third of three. Its fit seconds are then those of that one fit."""
    names = list(cfg.models.generators)
    if with_reference and REFERENCE not in names:
        names.append(REFERENCE)
    fitted, seconds = {}, {}
    models_cfg = cfg.models.model_copy(update={"als": als}) if als is not None else cfg.models
    for name in each(names):
        before = (fitted_before or {}).get(name)
        reused = before.over(train) if name == "sasrec" and before is not None and not cfg.models.sasrec.refit else None
        fitted[name] = reused or build_generator(name, models_cfg, cfg.seed).fit(train)
        seconds[name] = fitted[name].fit_seconds
    generators = {n: fitted[n] for n in cfg.models.generators}
    reference = {n: g for n, g in fitted.items() if n not in generators}
    return generators, reference, seconds


def user_sample(train: TrainingSet, relevant: sparse.csr_matrix, max_users: int, seed: int) -> tuple[TrainingSet, sparse.csr_matrix]:
    """`train` and `relevant` restricted to a seeded sample of at most `max_users` users (all items kept)."""
    if train.n_users <= max_users:
        return train, relevant
    rows = np.sort(np.random.default_rng(seed).choice(train.n_users, max_users, replace=False))
    sample = replace(train, user_ids=train.user_ids[rows], weights=train.weights[rows], seen=train.seen[rows],
                     events=train.events.iloc[:0])
    return sample, relevant[rows]


def tune_als(train: TrainingSet, relevant: sparse.csr_matrix, cfg: Config) -> tuple[AlsConfig, list[dict]]:
    """Best ALS setting of the configured grid by NDCG@k on the label window (the configured one if no grid),
    each grid point fitted on the same seeded sample of at most `als_tuning.max_users` users."""
    grid = cfg.models.als_tuning
    base = cfg.models.als
    if not grid.factors and not grid.regularization:
        return base, []
    train, relevant = user_sample(train, relevant, grid.max_users, cfg.seed)
    users = np.flatnonzero(relevant.getnnz(axis=1) > 0)
    k, trials = cfg.evaluation.k, []
    for factors in grid.factors or [base.factors]:
        for reg in grid.regularization or [base.regularization]:
            candidate = base.model_copy(update={"factors": factors, "regularization": reg})
            items, _ = ALSGenerator(candidate, cfg.seed).fit(train).recommend(users, k)
            ndcg = ranking_metrics(items, relevant[users], k, train.n_items)[f"ndcg@{k}"]
            trials.append({"factors": factors, "regularization": reg, f"ndcg@{k}": round(ndcg, 5)})
    best = max(trials, key=lambda t: t[f"ndcg@{k}"])
    return base.model_copy(update={"factors": best["factors"], "regularization": best["regularization"]}), trials


def assemble(train: TrainingSet, generators: dict, reference: dict, ranker: Ranker | None, cfg: Config,
             users: pd.DataFrame | None = None, store: StoreFeatures | None = None) -> FittedModels:
    ages = np.full(train.n_users, np.nan)
    if users is not None and "age" in users:
        idx = train.user_index(users[C.USER_ID].to_numpy())
        ok = idx >= 0
        ages[idx[ok]] = pd.to_numeric(users["age"], errors="coerce").to_numpy(dtype=np.float64)[ok]
    variants = {name: cfg.variant_rerank(name) for name in list(cfg.experiment.variants)[1:]}
    return FittedModels(generators, reference, train, build_context(train, generators, store), ranker, cfg.variant_rerank(cfg.experiment.control),
                        ages, cfg.models.candidates_per_generator, cfg.models.final_list_size, cfg.models.trending.window_days,
                        variants, cfg.models.ranker.max_candidates, fit_segments(train, users, cfg.models.segments))


def ranker_rows(models: FittedModels, user_idx: np.ndarray, relevant: sparse.csr_matrix) -> pd.DataFrame:
    """Candidate feature rows for `user_idx` with `qid` (= user index), `item_idx` and `label`; users without a
    relevant candidate are dropped (they carry no ranking signal)."""
    cands = candidates(models.generators, models.context, models.train, user_idx, models.n_candidates,
                       list(models.generators))
    rows = cands.rows
    rows["label"] = labels(rows, user_idx, relevant).astype(np.float32)
    rows["qid"] = user_idx[rows["row"].to_numpy()].astype(np.int64)
    positive = rows.groupby("qid")["label"].transform("max") > 0
    return rows.loc[positive, ["qid", "item_idx", "label", *feature_names(list(models.generators), models.context.store.pair_names)]].reset_index(drop=True)


def split_for_ranker(events: pd.DataFrame, cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit events, label events), held out from the training events as the evaluation protocol holds out the test
    events: each user's last `label_fraction` of events (temporal) or last positive event (leave-one-out)."""
    return hold_out(events, cfg.evaluation.protocol, cfg.models.ranker.label_fraction, cfg.interactions)


def stage_one(events: pd.DataFrame, movies: pd.DataFrame, users: pd.DataFrame | None, cfg: Config,
              store_at: StoreLookup | None = None, genres: list[str] | None = None, each: EachName = iter):
    """Fit generators on the earlier events; return (FittedModels, label relevance, ALS config, ALS trials, sampled users)."""
    fit_events, label_events = split_for_ranker(events, cfg)
    train = build_training_set(fit_events, movies, cfg.interactions)
    label_start = label_events.groupby(C.USER_ID)[C.TS].min()
    relevant = relevance(train, label_events, cfg)
    als, trials = tune_als(train, relevant, cfg) if "als" in cfg.models.generators else (cfg.models.als, [])
    generators, _, _ = fit_generators(train, cfg, als, with_reference=False, each=each)  # stage 1 reports nothing
    store = lookup_store(store_at, train, label_start, genres or [])
    models = assemble(train, generators, {}, None, cfg, users, store)
    candidates_users = np.flatnonzero(relevant.getnnz(axis=1) > 0)
    rng = np.random.default_rng(cfg.seed)
    if len(candidates_users) > cfg.models.ranker.max_users:
        candidates_users = np.sort(rng.choice(candidates_users, cfg.models.ranker.max_users, replace=False))
    return models, relevant, als, trials, candidates_users


def scoring_ms_per_user(generators: dict[str, CandidateGenerator], train: TrainingSet, n: int) -> dict[str, float]:
    """Milliseconds per user for each generator's top-n (timed on up to 1,000 training users)."""
    users = np.arange(min(train.n_users, SCORING_SAMPLE_USERS))
    out = {}
    for name, generator in generators.items():
        start = time.perf_counter()
        for chunk in np.array_split(users, max(1, len(users) // 256)):
            generator.recommend(chunk, n)
        out[name] = round((time.perf_counter() - start) * 1000 / max(len(users), 1), 3)
    return out
