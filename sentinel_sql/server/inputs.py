"""Where a request's data comes from: JSON rows, uploaded files, or named server datasets.

Every function here turns bad input into an ``ApiError`` (a status and one line) or the
engine's ``InputError`` (422), so a client's mistake never reaches the 500 handler.

Named datasets (``DataRoot``): a name is a path relative to the operator's data folder,
optionally ``file.duckdb::table``. It is refused (400) when it is absolute, has a ``..``
part, a wildcard or a NUL, or when its real path — every symlink resolved — lies outside the
folder; for a folder dataset the same holds for every file and folder below it.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..errors import InputError
from ..sources import open_source

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")  # as sources._CSV_SUFFIXES
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
PROFILE_SUFFIX = ".profile.json"
MAX_LISTED = 1000


class ApiError(Exception):
    """A client error with its HTTP status (400, 403, 404, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Side:
    """One side of a comparison: what the engine reads, and how to name it to the client."""

    data: Any  # a polars DataFrame or a path the engine opens
    source: str  # shown as ``source`` in the result
    label: str  # replaces the engine's label (a server path) in error messages
    path: str | None = None


# --------------------------------------------------------------------------------------------
# JSON rows


def frame_from_rows(rows: list[dict[str, Any]], field: str, max_rows: int) -> Side:
    """A polars DataFrame of JSON row objects, checked as the engine will read it."""
    import polars as pl

    check_rows(len(rows), field, max_rows)
    for row in rows:
        for key in row:
            if "\x00" in key:
                raise InputError(f"{field}: field name {key!r} contains a NUL character")
    try:
        df = pl.DataFrame(rows, infer_schema_length=None)
    except Exception as exc:  # mixed nested/scalar values, integers beyond 128 bits, ...
        raise InputError(f"{field}: cannot build a table from the rows: {_first_line(exc)}"
                         ) from None
    if df.width == 0:
        raise InputError(f"{field}: the rows have no fields")
    for name, dtype in df.schema.items():
        if dtype in (pl.Int128, pl.UInt128):
            raise InputError(f"{field}: column {name!r} has integers outside the 64-bit range")
    _probe(df, field)
    return Side(df, field, field)


def check_rows(rows: int, field: str, max_rows: int) -> None:
    if rows > max_rows:
        raise ApiError(413, f"{field}: {rows:,} rows is more than this server's limit of "
                            f"{max_rows:,} rows")


def _probe(data: Any, label: str) -> Any:
    """Open ``data`` as the engine will (errors carry ``label``); return its row count."""
    import duckdb

    con = duckdb.connect()
    try:
        src = open_source(con, data, label)
        for name in src.columns:
            if "\x00" in name:
                raise InputError(f"{label}: column name {name!r} contains a NUL character")
        try:
            (rows,) = con.execute(f"SELECT count(*) FROM {src.from_clause()}").fetchall()[0]
        except Exception as exc:  # a CSV line the sniffer did not foresee, a corrupt page
            raise InputError(f"{label}: cannot read: {_first_line(exc)}") from None
        return rows
    finally:
        con.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# uploaded files


def save_upload(file: BinaryIO, filename: str | None, field: str, folder: str,
                max_rows: int) -> Side:
    """Copy an uploaded CSV or Parquet file into ``folder`` under a name of ours."""
    name = os.path.basename((filename or "").replace("\\", "/")) or field
    label = f"{field} file {name!r}"
    head = file.read(4)
    file.seek(0)
    if not head:
        raise InputError(f"{label} is empty")
    ext = _upload_suffix(head, name.lower(), label)
    path = os.path.join(folder, field + ext)
    with open(path, "wb") as out:
        shutil.copyfileobj(file, out, 1 << 20)
    try:
        rows = _probe(path, label)
    except InputError as exc:  # DuckDB quotes the path: name the upload instead
        raise InputError(str(exc).replace(path, name)) from None
    check_rows(rows, label, max_rows)
    return Side(path, name, label, path)


def _upload_suffix(head: bytes, lower: str, label: str) -> str:
    if head == b"PAR1":
        return ".parquet"
    if lower.endswith(PARQUET_SUFFIXES):
        raise InputError(f"{label} is not a Parquet file (no PAR1 header)")
    if head[:2] == b"\x1f\x8b":  # gzip: CSV is the only compressed format we take
        return ".tsv.gz" if lower.endswith(".tsv.gz") else ".csv.gz"
    if lower.endswith(".tsv"):
        return ".tsv"
    if lower.endswith((".csv", ".txt")) or "." not in lower:
        return ".csv"
    raise ApiError(415, f"{label}: upload a CSV (.csv, .tsv, .txt, optionally .gz) or a "
                        "Parquet file")


# --------------------------------------------------------------------------------------------
# named datasets


_DRIVE = re.compile(r"^[A-Za-z]:")


class DataRoot:
    """The operator's data folder; ``resolve`` maps a client's name to a path inside it."""

    def __init__(self, root: str | os.PathLike) -> None:
        real = os.path.realpath(os.fspath(root))
        if not os.path.isdir(real):
            raise InputError(f"--data-root {os.fspath(root)}: not a folder")
        self.root = real

    def inside(self, real: str) -> bool:
        return real != self.root and os.path.commonpath([self.root, real]) == self.root

    def resolve(self, name: str, field: str) -> Side:
        """The dataset ``name`` as a ``Side``; 400 for a name that could leave the folder,
        404 for one that does not exist."""
        label = f"dataset {name!r}"
        rel, sep, table = name.partition("::")
        if "\x00" in name:
            raise ApiError(400, f"{field}: a dataset name cannot contain a NUL character")
        if not rel.strip():
            raise ApiError(400, f"{field}: empty dataset name")
        if os.path.isabs(rel) or rel.startswith(("/", "\\")) or _DRIVE.match(rel):
            raise ApiError(400, f"{field}: {label}: give a name relative to the data "
                                "folder, not an absolute path")
        if ".." in re.split(r"[/\\]", rel):
            raise ApiError(400, f"{field}: {label}: '..' is not allowed in a dataset name")
        if glob.has_magic(rel):
            raise ApiError(400, f"{field}: {label}: wildcards (*, ?, [) are not allowed; "
                                "name a file or a folder")
        real = os.path.realpath(os.path.join(self.root, rel))
        if not self.inside(real):
            raise ApiError(400, f"{field}: {label} leads outside the data folder")
        if not os.path.exists(real):
            raise ApiError(404, f"{field}: {label} not found")
        if os.path.isdir(real):
            if sep:
                raise ApiError(400, f"{field}: {label}: '::table' follows a DuckDB file, "
                                    "not a folder")
            self._check_tree(real, f"{field}: {label}")
        return Side(real + sep + table, name, label, real)

    def _check_tree(self, top: str, label: str) -> None:
        seen: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            real = os.path.realpath(dirpath)
            if real != top and not self.inside(real):
                raise ApiError(400, f"{label}: a folder in it leads outside the data folder")
            if real in seen:  # a symlink loop, or two links to one folder
                dirnames[:] = []
                continue
            seen.add(real)
            for f in filenames:
                if not self.inside(os.path.realpath(os.path.join(dirpath, f))):
                    raise ApiError(400, f"{label}: a file in it leads outside the data folder")

    def listing(self) -> tuple[list[dict[str, Any]], bool]:
        """Files under the folder the engine can read (hidden ones skipped), by name."""
        out: list[dict[str, Any]] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                fmt = _format(f.lower())
                if f.startswith(".") or fmt is None:
                    continue
                path = os.path.join(dirpath, f)
                real = os.path.realpath(path)
                if not self.inside(real) or not os.path.isfile(real):
                    continue
                if len(out) == MAX_LISTED:
                    return out, True
                rel = os.path.relpath(path, self.root).replace(os.sep, "/")
                out.append({"name": rel, "format": fmt, "bytes": os.path.getsize(real)})
        return out, False


def _format(lower: str) -> str | None:
    if lower.endswith(PROFILE_SUFFIX):
        return "profile"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    if lower.endswith(DUCKDB_SUFFIXES):
        return "duckdb"
    return None
