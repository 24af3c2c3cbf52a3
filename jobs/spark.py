"""The Spark session, configured from `cfg.spark` with Delta Lake enabled."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

from conf import Config

_DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def get_spark(cfg: Config, jvm_log: Path | None = None, log_level: str = "ERROR") -> SparkSession:
    """Return the active session or start one for `cfg.spark.master` (local or a cluster URL), logging at
    `log_level` (log4j's: ERROR, WARN, INFO).

    The Delta jars are resolved once through Spark's Maven resolver (local ~/.m2 first), so
    later sessions start offline. With `jvm_log`, a JVM this call starts writes what it prints (the jars'
    resolution, Spark's log, its Python workers' stderr) to that file instead of this process's stdout and
    stderr.
    """
    builder = (
        SparkSession.builder.master(cfg.spark.master)
        .appName(cfg.spark.app_name)
        .config("spark.driver.memory", cfg.spark.driver_memory)
    )
    # Python workers must import this project's packages. PySpark ships the interpreter path
    # with every Python function, so it is set before the context starts.
    os.environ.setdefault("PYSPARK_PYTHON", cfg.spark.python_executable or sys.executable)
    for key, value in {**_DELTA_CONF, **cfg.spark.conf}.items():
        builder = builder.config(key, value)
    with _output_to(jvm_log) if jvm_log else nullcontext():
        spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    return spark


@contextmanager
def _output_to(path: Path):
    """Point this process's stdout and stderr at `path` while the block runs: PySpark starts the JVM with them,
    and the JVM keeps them (so do the Python workers it starts later)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with path.open("wb") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, original in zip((1, 2), saved):
            os.dup2(original, fd)
            os.close(original)
