"""A Spark standalone cluster on loopback (a master and N workers), for the benches and the cluster test.

The pipeline reaches it by configuration alone: `spark.master` set to `Cluster.url`.
"""

from __future__ import annotations

import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class Cluster:
    url: str
    pids: list[int]

    def processes(self) -> list[psutil.Process]:
        """The master's and workers' processes (executors and their Python workers are their children)."""
        out = []
        for pid in self.pids:
            try:
                out.append(psutil.Process(pid))
            except psutil.Error:
                continue
        return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def standalone_cluster(workers: int, memory: str, folder: Path, cores: int = 1):
    """A master and `workers` workers of `cores` cores and `memory` each, stopped on exit; None when `workers` is 0."""
    if workers <= 0:
        yield None
        return
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    env = {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(folder / "work"), "PATH": "/usr/bin:/bin"}

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([str(spark_class), *args, "--webui-port", str(free_port())], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    procs = [start("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port))]
    try:
        wait_for(port)
        procs += [start("org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", str(cores),
                        "--memory", memory, url) for _ in range(workers)]
        yield Cluster(url, [p.pid for p in procs])
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
