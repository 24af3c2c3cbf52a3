"""MLflow: a parent run per pipeline run, a child run per model, the ranker registered.

The registered ranker's `champion` alias moves only when its run publishes.
"""

from __future__ import annotations

import io
import json
import logging
import re
from contextlib import redirect_stderr
from pathlib import Path

from conf import Config
from conf.settings import GENERATORS
from jobs.report_text import markdown

RANKER_MODEL = "movierec-ranker"
CHAMPION = "champion"


def _metric_name(metric: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.\-/ ]", "_", metric.replace("@", "_at_"))


def _mlflow(cfg: Config):
    import mlflow

    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    mlflow.set_registry_uri(cfg.mlflow.tracking_uri)
    if mlflow.get_experiment_by_name(cfg.mlflow.experiment) is None:
        # Without an explicit location, artifacts of a database-backed store land in ./mlruns of the caller.
        mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)
    mlflow.set_experiment(cfg.mlflow.experiment)
    return mlflow


def _metrics(values: dict) -> dict[str, float]:
    return {_metric_name(m): float(v) for m, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def log_evaluation(cfg: Config, run_id: str, report: dict, figures: list[Path], model_dir: Path) -> str:
    """Parent run with params, the final list's metrics, the report and figures; one child run per model;
    the eval ranker logged and registered. Returns the parent run id."""
    mlflow = _mlflow(cfg)
    timing = report.get("timing", {})
    with mlflow.start_run(run_name=run_id) as parent:
        mlflow.log_params({
            "source": cfg.source.kind, "data_dir": cfg.source.data_dir, "generators": ",".join(cfg.models.generators),
            "k": cfg.evaluation.k, "test_fraction": cfg.evaluation.test_fraction, "seed": cfg.seed,
            "ranker": json.dumps(cfg.models.ranker.model_dump()), "rerank": json.dumps(cfg.models.rerank.model_dump()),
            "als_chosen": json.dumps(report.get("als_tuning", {}).get("chosen", cfg.models.als.model_dump())),
        })
        mlflow.log_metrics(_metrics(report["models"]["final"]))
        mlflow.set_tags({"movierec.run_id": run_id, "gates.passed": str(report["gates"]["passed"])})
        mlflow.log_dict(report, "evaluation_report.json")
        mlflow.log_text(markdown(report), "evaluation_report.md")
        for figure in figures:
            mlflow.log_artifact(str(figure), "figures")
        for model, values in report["models"].items():
            with mlflow.start_run(run_name=model, nested=True):
                mlflow.set_tag("movierec.model", model)
                mlflow.log_metrics(_metrics(values))
                fit = timing.get("fit_seconds", {}).get(model)
                score = timing.get("score_ms_per_user", {}).get(model)
                mlflow.log_metrics(_metrics({"fit_seconds": fit, "score_ms_per_user": score}))
                if model in GENERATORS:
                    mlflow.log_params({"config": json.dumps(getattr(cfg.models, model).model_dump())})
        _register_ranker(mlflow, model_dir / "ranker.ubj", "eval", report.get("ranker", {}))
        return parent.info.run_id


def _register_ranker(mlflow, path: Path, split: str, summary: dict) -> str | None:
    """Log the booster at `path` in a child run and register it; return the registered version."""
    if not path.exists():
        return None
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(path))
    with mlflow.start_run(run_name=f"ranker_{split}", nested=True):
        mlflow.set_tag("movierec.split", split)
        mlflow.log_dict(summary, "ranker_summary.json")
        printed = io.StringIO()
        with redirect_stderr(printed):
            info = mlflow.xgboost.log_model(booster, name="ranker", registered_model_name=RANKER_MODEL)
    # MLflow prints what it registers straight to stderr: into its log instead, which MLFLOW_LOGGING_LEVEL governs.
    logging.getLogger("mlflow").info(printed.getvalue().strip())
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_model_version_tag(RANKER_MODEL, version, "split", split)
    return version


def record_outcome(cfg: Config, mlflow_run_id: str, published_version: str | None, report: dict | None = None,
                   ranker_file: Path | None = None) -> str | None:
    """Tag the run with the version it published (or "none"). On publish, register the ranker that made the
    published lists (`ranker_file`) and move `champion` to it; return that model version."""
    mlflow = _mlflow(cfg)
    registered = None
    with mlflow.start_run(run_id=mlflow_run_id):
        mlflow.set_tag("published_version", published_version or "none")
        if report is not None:
            mlflow.log_dict(report, "pipeline_report.json")
        if published_version and ranker_file is not None:
            registered = _register_ranker(mlflow, ranker_file, "full", {"published_version": published_version})
    if registered:
        move_champion(cfg, registered)
    return registered


def move_champion(cfg: Config, ranker_version: str) -> None:
    """Point the registered ranker's `champion` alias at `ranker_version` (on publish, and on rollback)."""
    _mlflow(cfg).MlflowClient().set_registered_model_alias(RANKER_MODEL, CHAMPION, ranker_version)
