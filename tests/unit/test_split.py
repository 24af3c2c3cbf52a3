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


def _typed(user, types):
    """Events of `user` in time order with the given types (ratings of 4)."""
    return [{"user_id": user, "event_id": f"{user}-{i}", "event_type": t, "value": 4.0 if t == "rating" else None,
             "ts": pd.Timestamp("2026-01-01") + pd.Timedelta(hours=i)} for i, t in enumerate(types)]


def test_leave_one_out_holds_out_each_users_last_positive_event_and_every_one_is_relevant():
    from conf.settings import InteractionsConfig
    from models.split import LEAVE_ONE_OUT, hold_out, held_out_relevant

    interactions = InteractionsConfig(weights={"view": 0.3, "watch": 1.0, "rating": 1.0, "skip": 0.0})
    events = pd.DataFrame(_typed(1, ["view", "watch", "rating", "skip"])     # last positive: the rating, not the skip
                          + _typed(2, ["skip", "watch"])                       # one positive event: nothing held out
                          + _typed(3, ["watch", "watch", "view"]))
    events = events.sample(frac=1.0, random_state=0)                           # order must not matter
    train, test = hold_out(events, LEAVE_ONE_OUT, 0.2, interactions)
    assert test["event_id"].tolist() == ["1-2", "3-2"]
    assert len(train) + len(test) == len(events)
    assert set(train["event_id"]) == set(events["event_id"]) - {"1-2", "3-2"}
    assert held_out_relevant(test, LEAVE_ONE_OUT, interactions).all()
    # Applied again to the training events, the second-to-last positive is the validation item.
    _, validation = hold_out(train, LEAVE_ONE_OUT, 0.2, interactions)
    assert validation["event_id"].tolist() == ["1-1", "3-1"]
