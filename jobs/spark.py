"""The Spark session, configured from `cfg.spark` with Delta Lake enabled."""

from __future__ import annotations

import os
import sys

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

from conf import Config

_DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def get_spark(cfg: Config) -> SparkSession:
    """Return the active session or start one for `cfg.spark.master` (local or a cluster URL).

    The Delta jars are resolved once through Spark's Maven resolver (local ~/.m2 first), so
    later sessions start offline.
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
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
