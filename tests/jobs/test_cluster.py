"""The same pipeline on a Spark standalone cluster (a master and two workers on loopback), by configuration only."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import bench_module

standalone = bench_module("cluster").standalone_cluster

pytestmark = pytest.mark.spark


@pytest.fixture
def standalone_cluster(tmp_path):
    with standalone(2, "1g", tmp_path) as cluster:     # two workers of one core, as bench/scale.py --cluster-workers 2
        yield cluster.url


def test_pipeline_runs_unchanged_on_a_standalone_cluster(standalone_cluster, tmp_path):
    report_path = tmp_path / "report.json"
    settings = ["spark.master=" + standalone_cluster, "spark.driver_memory=1g",
                'spark.conf={"spark.executor.memory": "1g", "spark.executor.cores": "1"}',
                "synthetic.users=120", "synthetic.movies=70", "synthetic.events_per_user=20",
                "models.als.factors=8", "models.als_tuning.factors=[]", "models.two_tower.epochs=1",
                "models.two_tower.dim=8", "models.ranker.n_estimators=20", "models.ranker.num_workers=2",
                "gates.min_ndcg_vs_popularity=0", "gates.min_ndcg_vs_best_generator=null"]
    command = [str(Path(sys.executable).with_name("movierec")), "pipeline", "--workdir", str(tmp_path / "wd"),
               "--report", str(report_path)] + [arg for s in settings for arg in ("--set", s)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["published_version"] == report["run_id"]
    assert report["ranker"]["rows"] > 0, "SparkXGBRanker trained on the cluster's executors"
    assert report["ingest"]["tables"]["interactions"]["landed"] > 1000
