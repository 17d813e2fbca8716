"""Where data comes from: paths, globs, lakes, DuckDB tables and in-memory frames.

Every source is scanned by DuckDB. A source can be scanned several times (one wide pass
and a narrow exact pass); a Polars LazyFrame is streamed in batches on each scan, never
collected whole.

Path syntax (strings or ``pathlib.Path``):

- ``data.parquet``, ``lake/*.parquet``, ``lake/**/*.parquet`` — Parquet file or glob;
- ``lake/`` — a folder: every Parquet file below it, hive partitions (``year=2024/``) as columns;
- ``data.csv`` / ``.tsv`` / ``.csv.gz`` — CSV, types sniffed by DuckDB;
- ``warehouse.duckdb::table`` or ``warehouse.duckdb::schema.table`` — a table in a DuckDB file,
  opened read-only.
"""

from __future__ import annotations

import glob as _glob
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .sqlutil import quote_ident, quote_literal

_counter = itertools.count()
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")
_DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")


@dataclass
class Source:
    """One dataset, bound to a DuckDB connection. ``from_clause()`` is valid for one query."""

    con: Any
    label: str
    _kind: str
    _obj: Any = None
    _view: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # name -> DuckDB type

    def from_clause(self, columns: list[str] | None = None) -> str:
        """A FROM item scanning the data afresh (re-registers a LazyFrame stream each time)."""
        if self._kind == "lazy":
            lf = self._obj if columns is None else self._obj.select(columns)
            name = f"__sentinel_lazy_{next(_counter)}"
            self.con.register(name, _lazy_reader(lf))
            self._view = name
        assert self._view is not None
        return quote_ident(self._view)

    def release(self) -> None:
        """Unregister the temporary views this source made."""
        if self._kind in ("python", "lazy", "relation", "spark") and self._view:
            try:
                self.con.unregister(self._view)
            except Exception:  # pragma: no cover - best effort
                pass


def _lazy_reader(lf: Any) -> Any:
    import pyarrow as pa

    schema = lf.clear(0).collect().to_arrow().schema

    def batches():
        for df in lf.collect_batches():
            yield from df.to_arrow().cast(schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _describe(con: Any, from_clause: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {from_clause}").fetchall()
    return {r[0]: str(r[1]) for r in rows}


def open_source(con: Any, data: Any, label: str | None = None) -> Source:
    """Bind ``data`` (a path string or an in-memory object) to ``con`` as a scannable source."""
    if isinstance(data, Source):
        return data
    if getattr(con, "engine", "duckdb") == "spark":
        from .spark import open_spark_source

        return open_spark_source(con, data, label)
    if isinstance(data, (str, os.PathLike)):
        return _open_path(con, os.fspath(data), label)
    mod = type(data).__module__.split(".")[0]
    tname = type(data).__name__
    name = f"__sentinel_src_{next(_counter)}"
    if mod == "polars" and tname == "LazyFrame":
        src = Source(con, label or "<polars LazyFrame>", "lazy", data)
        try:
            schema = data.collect_schema()
        except Exception as exc:
            raise InputError(f"{src.label}: cannot read schema: {exc}") from None
        src.columns = _describe(con, src.from_clause()) if len(schema) else {}
        return src
    if mod == "duckdb":
        try:  # a relation of this connection's database is scanned in place
            con.register(name, data)
            src = Source(con, label or "<duckdb relation>", "relation", data, name)
            src.columns = _describe(con, src.from_clause())
            return src
        except Exception:
            try:
                con.unregister(name)
            except Exception:  # pragma: no cover - best effort
                pass
        # A relation of another connection, whose open results would block it: stream it
        # once into a temporary table of ours (DuckDB spills it to disk if large).
        reader = data.to_arrow_reader(1 << 16)
        try:
            con.register(name + "_in", reader)
            target, staging = quote_ident(name), quote_ident(name + "_in")
            con.execute(f"CREATE TEMP TABLE {target} AS SELECT * FROM {staging}")
            con.unregister(name + "_in")
        finally:
            reader.close()
        src = Source(con, label or "<duckdb relation>", "table", None, name)
    elif mod in ("polars", "pandas", "pyarrow"):
        src = Source(con, label or f"<{mod} {tname}>", "python", data, name)
        try:
            con.register(name, data)
            src.columns = _describe(con, src.from_clause())
        except Exception as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{src.label}: cannot read: {msg}") from None
        return src
    elif mod == "pyspark":
        raise InputError("a Spark DataFrame is read by the Spark engine (engine='spark')")
    else:
        raise InputError(
            f"unsupported data source of type {mod}.{tname}: give a path, a Polars or pandas "
            "frame, an Arrow table, a DuckDB relation or a Spark DataFrame"
        )
    src.columns = _describe(con, src.from_clause())
    return src


def _open_path(con: Any, spec: str, label: str | None) -> Source:
    label = label or spec
    name = f"__sentinel_src_{next(_counter)}"
    db_path, sep, table = spec.partition("::")
    try:
        if sep:
            if not os.path.isfile(db_path):
                raise InputError(f"{label}: database file not found")
            alias = f"__sentinel_db_{next(_counter)}"
            con.execute(f"ATTACH {quote_literal(db_path)} AS {quote_ident(alias)} (READ_ONLY)")
            parts = [p for p in table.split(".") if p]
            if not parts or len(parts) > 2:
                raise InputError(
                    f"{label}: expected FILE.duckdb::table or FILE.duckdb::schema.table"
                )
            qualified = ".".join(quote_ident(p) for p in [alias, *parts])
            rel = con.sql(f"SELECT * FROM {qualified}")
        elif os.path.isdir(spec):
            check_path(spec, label)
            rel = con.read_parquet(
                os.path.join(spec, "**", "*.parquet"), hive_partitioning=True, union_by_name=True
            )
        elif spec.lower().endswith(_CSV_SUFFIXES):
            check_path(spec, label)
            rel = con.read_csv(spec)
        elif spec.lower().endswith(_DUCKDB_SUFFIXES):
            raise InputError(f"{label}: name a table as {spec}::TABLE")
        else:
            check_path(spec, label)
            rel = con.read_parquet(spec, union_by_name=True)
        con.register(name, rel)
        src = Source(con, label, "relation", rel, name)
        src.columns = _describe(con, src.from_clause())
    except InputError:
        raise
    except Exception as exc:  # DuckDB's own message, on one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{label}: cannot read: {msg}") from None
    if not src.columns:
        raise InputError(f"{label}: no columns")
    return src


def check_path(spec: str, label: str) -> None:
    """A clear one-line error for a local path that names nothing readable (both engines)."""
    if _glob.has_magic(spec):
        if next(_glob.iglob(spec, recursive=True), None) is None:
            raise InputError(f"{label}: glob matches no files")
    elif not os.path.exists(spec):
        raise InputError(f"{label}: file not found")
    elif os.path.isdir(spec):
        pattern = os.path.join(spec, "**", "*.parquet")
        if next(_glob.iglob(pattern, recursive=True), None) is None:
            raise InputError(f"{label}: folder holds no Parquet files")


def is_profile_path(data: Any) -> bool:
    """True when ``data`` names a saved Sentinel profile file."""
    return isinstance(data, (str, os.PathLike)) and Path(data).name.endswith(".profile.json")
