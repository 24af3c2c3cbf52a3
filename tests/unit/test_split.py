import pandas as pd

from models.split import temporal_split


def _events(user, n):
    return [{"user_id": user, "event_id": f"{user}-{i}", "ts": pd.Timestamp("2026-01-01") + pd.Timedelta(days=n - i)}
            for i in range(n)]


def test_last_fifth_of_each_users_events_by_time_is_test():
    events = pd.DataFrame(_events(1, 10) + _events(2, 5) + _events(3, 1))
    train, test = temporal_split(events, 0.2)
    assert test.groupby("user_id").size().to_dict() == {1: 2, 2: 1}
    for user, group in test.groupby("user_id"):
        assert group["ts"].min() >= train[train.user_id == user]["ts"].max()
    assert len(train) + len(test) == len(events)
    assert (train.user_id == 3).sum() == 1  # a single event stays in train
