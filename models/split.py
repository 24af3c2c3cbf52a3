"""Per-user temporal split: each user's last `test_fraction` of events (by time) is the test set."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from data_contracts import columns as C


def temporal_split(events: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `events` (user_id, ts, event_id, ...) per user by time.

    A user with n events keeps the first ceil((1 - test_fraction) * n) in train, so a user with a
    single event has no test events. Ties in ts are broken by event_id for determinism.
    """
    ordered = events.sort_values([C.USER_ID, C.TS, C.EVENT_ID], kind="mergesort")
    position = ordered.groupby(C.USER_ID).cumcount().to_numpy()
    count = ordered.groupby(C.USER_ID)[C.USER_ID].transform("size").to_numpy()
    n_train = np.ceil((1.0 - test_fraction) * count - 1e-9).astype(int)
    in_train = position < n_train
    return ordered[in_train].reset_index(drop=True), ordered[~in_train].reset_index(drop=True)


def describe(test_fraction: float) -> str:
    return (f"per-user temporal split: each user's last {math.floor(test_fraction * 100)}% of events by time are test; "
            "full-catalog ranking with the user's training items excluded")
