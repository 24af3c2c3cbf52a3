"""MLflow: one run per pipeline run (params, metrics, report), tagged with what it published."""

from __future__ import annotations

import json
import re

from conf import Config


def _metric_name(model: str, metric: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.\-/ ]", "_", f"{model}.{metric.replace('@', '_at_')}")


def _mlflow(cfg: Config):
    import mlflow

    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    if mlflow.get_experiment_by_name(cfg.mlflow.experiment) is None:
        # Without an explicit location, artifacts of a database-backed store land in ./mlruns of the caller.
        mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)
    mlflow.set_experiment(cfg.mlflow.experiment)
    return mlflow


def log_evaluation(cfg: Config, run_id: str, report: dict) -> str:
    """Start the MLflow run for `run_id` with params, every model's metrics and the report; return its id."""
    mlflow = _mlflow(cfg)
    with mlflow.start_run(run_name=run_id) as run:
        mlflow.log_params({
            "source": cfg.source.kind, "data_dir": cfg.source.data_dir, "generators": ",".join(cfg.models.generators),
            "k": cfg.evaluation.k, "test_fraction": cfg.evaluation.test_fraction, "seed": cfg.seed,
            "als": json.dumps(cfg.models.als.model_dump()), "popularity": json.dumps(cfg.models.popularity.model_dump()),
            "blend": json.dumps(cfg.models.blend.model_dump()),
        })
        mlflow.log_metrics({_metric_name(model, metric): float(value)
                            for model, values in report["models"].items() for metric, value in values.items()})
        mlflow.set_tags({"movierec.run_id": run_id, "gates.passed": str(report["gates"]["passed"])})
        mlflow.log_dict(report, "evaluation_report.json")
        return run.info.run_id


def record_outcome(cfg: Config, mlflow_run_id: str, published_version: str | None, report: dict | None = None) -> None:
    """Tag the run with the version it published (or "none") and attach the final report."""
    mlflow = _mlflow(cfg)
    with mlflow.start_run(run_id=mlflow_run_id):
        mlflow.set_tag("published_version", published_version or "none")
        if report is not None:
            mlflow.log_dict(report, "pipeline_report.json")
