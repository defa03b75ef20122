"""The Spark lane: a real local Spark (pyspark, started by dbt-spark's `session` method) inside the test process.

The JVM starts once per process (≈20 s) and every later SparkSession reuses it, so the whole lane shares one
session, one warehouse directory and one metastore: each module works in databases of its own. Skipped only
when pyspark is not installed; `pip install -e ".[test]"` installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import spark_settings

SPARK_MISSING = 'pyspark is not installed: pip install -e ".[spark]" (the test extra includes it)'


@pytest.fixture(scope="session")
def spark_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the lane's warehouse, metastore and Derby log live."""
    return tmp_path_factory.mktemp("spark")


@pytest.fixture(scope="session")
def spark(spark_home: Path) -> Iterator[Any]:
    """The lane's SparkSession, started with the settings every test profile names; dbt-spark reuses it."""
    sql = pytest.importorskip("pyspark.sql", reason=SPARK_MISSING)
    builder = sql.SparkSession.builder.enableHiveSupport()
    for key, value in spark_settings(spark_home).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
