"""The same pipeline on a Spark standalone cluster (master + worker on loopback), by configuration only."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture
def standalone_cluster(tmp_path):
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    port = _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    env = {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(tmp_path / "work"), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([str(spark_class), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(_free_port())],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_for(port)
        procs.append(subprocess.Popen([str(spark_class), "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                       "--cores", "2", "--memory", "2g", "--webui-port", str(_free_port()), master_url],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield master_url
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)


def test_pipeline_runs_unchanged_on_a_standalone_cluster(standalone_cluster, tmp_path):
    report_path = tmp_path / "report.json"
    settings = ["spark.master=" + standalone_cluster, "spark.driver_memory=1g",
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
