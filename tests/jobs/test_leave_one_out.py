"""The eval split under `evaluation.protocol: leave_one_out`, with SASRec feeding the ranker: one held-out
positive event per user, every one relevant, the protocol named in the report."""

import numpy as np
import pandas as pd
import pytest

from jobs import runs
from jobs.evaluate import evaluate
from jobs.features import pin_inputs
from jobs.ingest import ingest
from jobs.score import list_rows, score
from jobs.train import train
from models.data import event_weights
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark


def test_leave_one_out_holds_out_one_positive_event_per_user_and_sasrec_feeds_the_ranker(spark, tmp_path):
    cfg = tiny_config(tmp_path, evaluation={"protocol": "leave_one_out"},
                      models={"generators": ["popularity", "ease", "time_aware", "sasrec"],
                              "ranker": {"store_features": False, "n_estimators": 20, "max_depth": 3, "num_workers": 1}})
    ingest(cfg, spark)
    pin_inputs(cfg, spark, "loo")      # no features step: the ranker reads no store features here
    train(cfg, spark, "loo", "eval")
    test = pd.read_parquet(runs.test_path(cfg, "loo"))
    assert test.groupby("user_id").size().max() == 1, "one held-out event per user"
    assert test["relevant"].all(), "every held-out interaction is relevant"
    assert (event_weights(test, cfg.interactions) > 0).all(), "the held-out event is a positive one"
    score(cfg, spark, "loo", "eval")
    report = evaluate(cfg, spark, "loo")
    assert report["protocol"]["name"] == "leave_one_out"
    assert report["protocol"]["split"].startswith("leave-one-out") and report["protocol"]["relevance"] == "every held-out interaction"
    assert {"sasrec", "final"} <= set(report["models"])
    assert report["models"]["final"]["users"] > 50
    # With one relevant item, recall@10 is the hit rate.
    final = report["models"]["final"]
    assert np.isclose(final["recall@10"], final["hit_rate@10"])
    assert report["ranker"]["feature_importance_gain"].keys() >= {"sasrec_score", "sasrec_rank"}
    # Evaluation reads each list alone; DuckDB over the Parquet files and Spark give the same rows.
    by = ["user_id", "rank"]
    for table, name in (("candidates", "sasrec"), ("ranked_lists", "final")):
        duck = list_rows(cfg, spark, "loo", "eval", table, name).sort_values(by).reset_index(drop=True)
        jvm = list_rows(cfg, spark, "loo", "eval", table, name, engine="spark").sort_values(by).reset_index(drop=True)
        assert len(duck) > 0
        pd.testing.assert_frame_equal(duck, jvm, check_dtype=False)
