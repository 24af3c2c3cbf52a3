"""The experiment readout on real Spark + Delta: exposures and the events that followed them, with a planted lift."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from data_contracts import columns as S
from jobs import lake
from jobs.errors import PipelineError
from jobs.experiments.report import experiment_report
from serving.variants import assign
from tests.conftest import tiny_config

pytestmark = pytest.mark.spark

START = datetime(2026, 3, 1, tzinfo=UTC)
VARIANTS = ["control", "slots"]


def _write(spark, cfg, lift: float, lose_slots: float = 0.0, users: int = 1500, seed: int = 0) -> None:
    """Each user is shown 1-3 lists of 10 movies over a week and watches each shown movie with a probability that
    follows their activity (which also sets their watches in the 28 days before): `slots` users watch
    `1 + lift` times as often. `lose_slots`: a share of slots users whose exposures the log lost."""
    rng = np.random.default_rng(seed)
    name = cfg.experiment.name
    exposures, events = [], []
    for user in range(users):
        variant = assign(name, user, VARIANTS, [0.5, 0.5])
        if variant == "slots" and rng.random() < lose_slots:
            continue
        activity = rng.gamma(2.0, 0.05)
        first = START + timedelta(hours=float(rng.uniform(0, 72)))
        for n in range(int(rng.integers(28 * activity * 10 + 1))):      # the pre-period: any movie
            events.append((f"p{user}-{n}", user, int(rng.integers(1000)), "watch", np.nan, 3600.0,
                           first - timedelta(days=float(rng.uniform(0.1, 27.9)))))
        for k in range(int(rng.integers(1, 4))):
            served = first + timedelta(days=k * 2)
            shown = rng.choice(1000, 10, replace=False).tolist()
            exposures.append((f"{user}-{k}", user, name, variant, variant, "v1", "home", shown, k == 2, False, served))
            rate = min(activity * (1 + lift if variant == "slots" else 1.0), 1.0)
            for movie in np.array(shown)[rng.random(10) < rate]:
                events.append((f"w{user}-{k}-{movie}", user, int(movie), "watch", np.nan, 1800.0,
                               served + timedelta(hours=float(rng.uniform(1, 100)))))
    exposure_frame = pd.DataFrame(exposures, columns=["exposure_id", S.USER_ID, S.EXPERIMENT, S.VARIANT, "served_variant",
                                                      "version", "context", "movie_ids", "fallback", "degraded", S.SERVED_AT])
    event_frame = pd.DataFrame(events, columns=[S.EVENT_ID, S.USER_ID, S.MOVIE_ID, S.EVENT_TYPE, S.VALUE, S.WATCH_SECONDS, S.TS])
    user_frame = pd.DataFrame({S.USER_ID: np.arange(users), "gender": rng.choice(["F", "M", None], users)})
    for frame, table in ((exposure_frame, "exposures"), (event_frame, "interactions"), (user_frame, "users")):
        for column in (S.SERVED_AT, S.TS):
            if column in frame:
                frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
        spark.createDataFrame(frame).write.format("delta").mode("overwrite").save(cfg.table_path("silver", table))


def test_a_planted_lift_ships_with_cuped_narrower_and_everything_recorded(spark, tmp_path):
    cfg = tiny_config(tmp_path)
    _write(spark, cfg, lift=0.6)
    report = experiment_report(cfg, spark)
    assert report["srm"]["flagged"] is False
    assert sum(v["users"] for v in report["exposure"].values()) == 1500
    assert report["exposure"]["control"]["fallback_lists"] > 0, "the third list of each user was a fallback"
    watches = report["results"]["slots"]["watches_of_shown"]
    assert watches["welch"]["ci_low"] > 0 and watches["cuped"]["ci_low"] > 0
    assert watches["cuped"]["variance_reduction"] > 0.1, "the pre-period predicts the experiment period"
    assert watches["cuped"]["ci_high"] - watches["cuped"]["ci_low"] < watches["welch"]["ci_high"] - watches["welch"]["ci_low"]
    assert "ci_low" in watches["post_stratified"]
    assert report["decisions"]["slots"]["action"] == "ship"
    assert "constant" in report["results"]["slots"]["click_through"]["error"], "nobody clicked: no interval, said so"
    assert {r["metric"] for r in report["daily"]} == {"watches_of_shown", "watch_hours_of_shown"}
    days = [r["day"] for r in report["daily"] if r["metric"] == "watches_of_shown"]
    assert days == sorted(days) and len(days) >= 5
    rows = lake.read(spark, cfg.table_path("gold", "experiment_results")).collect()
    assert {(r["metric"], r["method"]) for r in rows} >= {("watches_of_shown", "welch"), ("watches_of_shown", "cuped")}
    assert {r["decision"] for r in rows if r["metric"] == "watches_of_shown"} == {"ship"}
    folder = tmp_path / "experiments" / cfg.experiment.name
    assert (folder / "lift.png").stat().st_size > 10_000
    assert (folder / "report.md").read_text().rstrip().splitlines()[-1].startswith("- **slots: ship.**")
    assert report["mlflow_run_id"]
    experiment_report(cfg, spark)
    assert lake.read(spark, cfg.table_path("gold", "experiment_results")).count() == len(rows), "same day: replaced"
    # The next experiment is configured with other variants and weights; this one keeps its results and split.
    following = tiny_config(tmp_path, experiment={"name": "next-one", "variants": {"a": {"weight": 0.9}, "b": {"weight": 0.1}}})
    again = experiment_report(following, spark, cfg.experiment.name)
    assert again["weights"] == {"control": 0.5, "slots": 0.5} and not again["srm"]["flagged"]
    assert lake.read(spark, cfg.table_path("gold", "experiment_results")).count() == len(rows)


def test_no_lift_is_not_shipped_and_a_lossy_logger_trips_the_ratio_check(spark, tmp_path):
    cfg = tiny_config(tmp_path / "null", experiment={"strata": "gender"})
    _write(spark, cfg, lift=0.0, seed=1)
    null = experiment_report(cfg, spark)
    assert null["decisions"]["slots"]["action"] in ("keep running", "stop")
    watches = null["results"]["slots"]["watches_of_shown"]
    assert watches["cuped"]["ci_low"] < 0 < watches["cuped"]["ci_high"]
    assert null["strata"] == "gender" and watches["post_stratified"]["n_control"] == watches["welch"]["n_control"]
    lossy = tiny_config(tmp_path / "lossy")
    _write(spark, lossy, lift=0.6, lose_slots=0.25, seed=2)
    report = experiment_report(lossy, spark)
    assert report["srm"]["flagged"] is True
    assert report["decisions"]["slots"]["action"] == "investigate", "a broken split voids the lift"


def test_no_exposures_is_a_clear_error(spark, tmp_path):
    cfg = tiny_config(tmp_path)
    with pytest.raises(PipelineError, match="silver.exposures does not exist"):
        experiment_report(cfg, spark)
    _write(spark, cfg, lift=0.0, users=20)
    with pytest.raises(PipelineError, match="no exposures of experiment 'other'"):
        experiment_report(cfg, spark, "other")
