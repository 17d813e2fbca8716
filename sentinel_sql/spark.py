"""Sentinel on Apache Spark: Spark scans and aggregates, the driver finishes the comparison.

The engine's queries (``scan.py``) are written once, in DuckDB SQL; ``SparkConnection`` runs
each through ``dialect.to_spark`` and hands Spark the generated SQL with the same bound
parameters. Only small results come back to the driver: counts per bin, per category, per
refined bin, and the values of the few bins the exact KS statistic still needs. Everything
after that (``exact.py``, ``ks.py``, ``stats.py``, the profiles) is the code DuckDB runs.

Sources: a Spark DataFrame, or a path Spark can read (Parquet file, folder, glob, hive lake,
also ``s3a://``, ``hdfs://`` …; CSV with a header). A session this module starts uses
``spark.sql.session.timeZone=UTC``; an active session of the caller is used as it is.
"""

from __future__ import annotations

import glob as _glob
import itertools
import os
from typing import Any

from . import sources
from .dialect import spark_args, to_spark
from .errors import InputError
from .sources import Source, is_profile_path

DEFAULT_MASTER = "local[*]"
ENGINES = ("duckdb", "spark")
_counter = itertools.count()

_SIMPLE_TYPES = {
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "byte": "TINYINT",
    "smallint": "SMALLINT",
    "short": "SMALLINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "long": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
}


def duckdb_type(spark_type: Any) -> str:
    """The DuckDB name of a Spark SQL type, so that kinds and profiles agree across engines.

    >>> duckdb_type("decimal(10,2)"), duckdb_type("bigint"), duckdb_type("array<int>")
    ('DECIMAL(10,2)', 'BIGINT', 'array<int>')
    """
    name = spark_type if isinstance(spark_type, str) else spark_type.simpleString()
    low = name.lower()
    if low.startswith("decimal"):
        return low.upper()
    if low.startswith(("varchar", "char")):
        return "VARCHAR"
    return _SIMPLE_TYPES.get(low, name)


def is_spark_frame(data: Any) -> bool:
    """True for a pyspark DataFrame (classic or Spark Connect), without importing pyspark."""
    mod = type(data).__module__
    return mod.startswith("pyspark.") and type(data).__name__ == "DataFrame"


def pick_engine(engine: str | None, spark_master: str | None, *data: Any) -> str:
    """The engine to scan ``data`` with: ``engine`` if given, else ``spark`` when any input is
    a Spark DataFrame. Local paths for Spark are checked here, before a session takes
    seconds to start. The one place every entry point (drift, profile, slices) decides."""
    if engine not in (None, *ENGINES):
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    engine = engine or ("spark" if any(is_spark_frame(d) for d in data) else "duckdb")
    if spark_master and engine != "spark":
        raise InputError("spark_master needs engine='spark'")
    if engine == "spark":
        for d in data:
            if isinstance(d, (str, os.PathLike)) and not is_profile_path(d):
                check_path(os.fspath(d), os.fspath(d))
    return engine


def session(master: str | None = None) -> Any:
    """The active Spark session, or a new one on ``master`` (default ``local[*]``)."""
    import warnings

    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            "--engine spark needs pyspark (and Java 17): pip install 'sentinel-sql[spark]'"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    from importlib import resources

    log_conf = resources.files("sentinel_sql").joinpath("spark_log4j2.properties")
    try:
        spark = (
            SparkSession.builder.appName("sentinel-sql")
            .master(master or DEFAULT_MASTER)
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log_conf}")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.ui.enabled", "false")
            .getOrCreate()
        )
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = master or DEFAULT_MASTER
        raise InputError(f"--spark-master {where}: cannot start Spark: {msg}") from None
    # errors reach the user as one-line InputErrors; Spark's own log would repeat them as
    # multi-line JSON on stderr
    spark.sparkContext.setLogLevel("FATAL")
    return spark


class _Rows:
    """A finished Spark query: the rows (``fetchall``) or an Arrow table."""

    def __init__(self, df: Any, arrow: bool):
        self._df = df
        self._rows = None if arrow else [tuple(r) for r in df.collect()]

    def fetchall(self) -> list[tuple]:
        if self._rows is None:
            self._rows = [tuple(r) for r in self._df.collect()]
        return self._rows

    def to_arrow_table(self) -> Any:
        return self._df.toArrow()


class SparkConnection:
    """The part of a DuckDB connection the engine uses, running on a Spark session."""

    engine = "spark"

    def __init__(self, spark: Any):
        self.spark = spark
        self._views: list[str] = []

    def _frame(self, sql: str, params: Any) -> Any:
        return self.spark.sql(to_spark(sql), args=spark_args(params or []))

    def execute(self, sql: str, params: Any = None) -> _Rows:
        return _Rows(self._frame(sql, params), arrow=False)

    def sql(self, sql: str, params: Any = None) -> _Rows:
        return _Rows(self._frame(sql, params), arrow=True)

    def register(self, name: str, df: Any) -> None:
        df.createOrReplaceTempView(name)
        self._views.append(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        if name in self._views:
            self._views.remove(name)

    def close(self) -> None:
        """Drop the temporary views made here; the Spark session itself stays up."""
        for name in list(self._views):
            try:
                self.unregister(name)
            except Exception:  # pragma: no cover - best effort
                pass


def connect(master: str | None = None) -> SparkConnection:
    return SparkConnection(session(master))


def _is_local(spec: str) -> bool:
    return "://" not in spec or spec.startswith("file://")


def check_path(spec: str, label: str) -> None:
    """Fail fast (before a Spark session starts) on a local path that cannot be read."""
    if _is_local(spec):
        if "::" in spec:
            raise InputError(f"{label}: DuckDB database tables are read by the DuckDB engine only")
        sources.check_path(spec[len("file://") :] if spec.startswith("file://") else spec, label)


def _read_path(spark: Any, spec: str, label: str) -> Any:
    check_path(spec, label)
    local = spec[len("file://") :] if spec.startswith("file://") else spec
    reader = spark.read
    if spec.lower().endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
        sep = "\t" if ".tsv" in spec.lower() else ","
        return reader.csv(spec, header=True, inferSchema=True, sep=sep)
    if "**" in spec:  # Hadoop globs do not recurse: read the folder above recursively
        root = spec.split("**")[0].rstrip("/") or "."
        return reader.option("recursiveFileLookup", "true").parquet(root)
    return _hive_types_as_duckdb(reader.parquet(spec), local if _is_local(spec) else None)


def _hive_types_as_duckdb(df: Any, local: str | None) -> Any:
    """Integer hive partition columns (``year=2024/``) as BIGINT, the type DuckDB infers for
    them (Spark infers INT), so that the schemas and the profiles agree across engines."""
    if not local or not os.path.isdir(local):
        return df
    first = next(iter(_glob.iglob(os.path.join(local, "**", "*.parquet"), recursive=True)), None)
    parts = os.path.relpath(os.path.dirname(first), local).split(os.sep) if first else []
    keys = {p.split("=", 1)[0] for p in parts if "=" in p}
    from pyspark.sql import functions as F  # noqa: N812 - the usual spelling

    for f in df.schema.fields:
        if f.name in keys and f.dataType.simpleString() in ("int", "smallint", "tinyint"):
            df = df.withColumn(f.name, F.col(f"`{f.name.replace('`', '``')}`").cast("bigint"))
    return df


def open_spark_source(con: SparkConnection, data: Any, label: str | None = None) -> Source:
    """Bind a Spark DataFrame or a path to ``con`` as a temporary view."""
    if isinstance(data, Source):
        return data
    if isinstance(data, (str, os.PathLike)):
        spec = os.fspath(data)
        label = label or spec
        try:
            df = _read_path(con.spark, spec, label)
        except InputError:
            raise
        except Exception as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{label}: cannot read: {msg}") from None
    elif is_spark_frame(data):
        df, label = data, label or "<spark DataFrame>"
    else:
        raise InputError(
            f"the Spark engine reads Spark DataFrames and paths, not {type(data).__name__}"
        )
    name = f"__sentinel_spark_{os.getpid()}_{next(_counter)}"
    con.register(name, df)
    src = Source(con, label, "spark", df, name)
    src.columns = {f.name: duckdb_type(f.dataType) for f in df.schema.fields}
    if not src.columns:
        raise InputError(f"{label}: no columns")
    return src
