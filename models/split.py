"""How events are held out: the evaluation protocol, and the ranker's label window inside the training events.

temporal:       each user's last `test_fraction` of events (by time) is the test set; relevant = a high rating
                or a positive event type (models.data.is_relevant).
leave_one_out:  each user's last positive event is the test item and every held-out interaction is relevant:
                the protocol of the sequential-recommendation literature (SASRec, BERT4Rec), full-catalogue
                ranking with the user's other items excluded. Applied again to the training events, the
                second-to-last positive event is the validation item the ranker and the ALS grid learn from.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from conf.settings import InteractionsConfig
from data_contracts import columns as C
from models.data import event_weights, is_relevant

TEMPORAL, LEAVE_ONE_OUT = "temporal", "leave_one_out"


def _ordered(events: pd.DataFrame) -> pd.DataFrame:
    # Ties in ts are broken by event_id for determinism.
    return events.sort_values([C.USER_ID, C.TS, C.EVENT_ID], kind="mergesort")


def temporal_split(events: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `events` (user_id, ts, event_id, ...) per user by time.

    A user with n events keeps the first ceil((1 - test_fraction) * n) in train, so a user with a
    single event has no test events.
    """
    ordered = _ordered(events)
    position = ordered.groupby(C.USER_ID).cumcount().to_numpy()
    count = ordered.groupby(C.USER_ID)[C.USER_ID].transform("size").to_numpy()
    n_train = np.ceil((1.0 - test_fraction) * count - 1e-9).astype(int)
    in_train = position < n_train
    return ordered[in_train].reset_index(drop=True), ordered[~in_train].reset_index(drop=True)


def last_positive_split(events: pd.DataFrame, interactions: InteractionsConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): each user's last event with a positive training weight is the test row, when the user has
    at least one other positive event (a user with one keeps it for training). Events after it (a skip, a
    dismissal) stay in train: what the user did after choosing is not what the model must predict."""
    ordered = _ordered(events)
    positive = event_weights(ordered, interactions) > 0
    users = ordered[C.USER_ID].to_numpy()
    # Position of each positive event among its user's positive events, counted from the last.
    flipped = pd.Series(positive[::-1].astype(np.int64)).groupby(users[::-1]).cumsum().to_numpy()[::-1]
    n_positive = pd.Series(positive.astype(np.int64)).groupby(users).transform("sum").to_numpy()
    is_test = positive & (flipped == 1) & (n_positive >= 2)
    return ordered[~is_test].reset_index(drop=True), ordered[is_test].reset_index(drop=True)


def hold_out(events: pd.DataFrame, protocol: str, fraction: float, interactions: InteractionsConfig
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, held out) by `protocol`; `fraction` is the temporal protocol's share held out."""
    if protocol == LEAVE_ONE_OUT:
        return last_positive_split(events, interactions)
    return temporal_split(events, fraction)


def held_out_relevant(held_out: pd.DataFrame, protocol: str, interactions: InteractionsConfig) -> np.ndarray:
    """Which held-out events count as relevant: every one under leave-one-out, else the relevance rule."""
    if protocol == LEAVE_ONE_OUT:
        return np.ones(len(held_out), dtype=bool)
    return is_relevant(held_out, interactions)


def describe(protocol: str, test_fraction: float) -> str:
    if protocol == LEAVE_ONE_OUT:
        return ("leave-one-out: each user's last positive event is the test item (users with at least two), every "
                "held-out interaction relevant; full-catalogue ranking with the user's other items excluded; the "
                "second-to-last is the validation item the ranker and the ALS grid learn from")
    return (f"per-user temporal split: each user's last {math.floor(test_fraction * 100)}% of events by time are test; "
            "full-catalog ranking with the user's training items excluded")
