"""MLflow: one run per pipeline run with its parameters, metrics and evaluation report."""

from __future__ import annotations

import json
import re

from conf import Config


def _metric_name(model: str, metric: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.\-/ ]", "_", f"{model}.{metric.replace('@', '_at_')}")


def log_run(cfg: Config, run_id: str, report: dict) -> str:
    """Record `report` (the pipeline report) in MLflow; return the MLflow run id."""
    import mlflow

    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    mlflow.set_experiment(cfg.mlflow.experiment)
    with mlflow.start_run(run_name=run_id) as run:
        mlflow.log_params({
            "source": cfg.source.kind, "data_dir": cfg.source.data_dir, "generators": ",".join(cfg.models.generators),
            "k": cfg.evaluation.k, "test_fraction": cfg.evaluation.test_fraction,
            "als": json.dumps(cfg.models.als.model_dump()), "popularity": json.dumps(cfg.models.popularity.model_dump()),
            "blend": json.dumps(cfg.models.blend.model_dump()), "seed": cfg.seed,
        })
        mlflow.log_metrics({_metric_name(model, metric): float(value)
                            for model, values in report["models"].items() for metric, value in values.items()})
        mlflow.set_tags({"movierec.run_id": run_id, "gates.passed": str(report["gates"]["passed"]),
                         "published_version": str(report.get("published_version"))})
        mlflow.log_dict(report, "report.json")
        return run.info.run_id
