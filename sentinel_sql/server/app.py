"""The HTTP API and the dashboard: a thin FastAPI layer over ``compare`` and ``find_slices``.

Endpoints (OpenAPI at ``/openapi.json``, interactive docs at ``/docs``, served offline):

- ``GET /`` the dashboard (one self-contained page); ``GET /health``;
- ``POST /detect-drift`` JSON rows, ``POST /detect-drift/upload`` multipart files,
  ``POST /detect-drift/datasets`` names under ``data_root``; ``?report=true`` adds the HTML
  report (``report_html``) to the drift JSON contract;
- ``POST /slices``, ``POST /slices/upload``, ``POST /slices/datasets`` the same for slices;
- ``GET /datasets`` the datasets under ``data_root``.

Errors: every 4xx and 5xx answer is ``{"error": "one line"}``. 400 a malformed request or a
refused dataset name, 403 named datasets without ``data_root``, 404 no such dataset or path,
413 a body or a row count over the limit, 415 an upload that is neither CSV nor Parquet, 422
a request that does not validate or data the engine cannot use (``InputError``). A 500 says
only "internal error" and an id to find the traceback in the server log.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import InputError
from . import models as m
from .inputs import ApiError, DataRoot, Side, frame_from_rows, save_upload
from .limits import BodyLimit, HostCheck
from .pages import add_pages

log = logging.getLogger("sentinel_sql.server")

MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_ROWS = 1_000_000

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": m.ErrorResponse, "description": text} for code, text in (
        (400, "Malformed request, or a dataset name that is refused"),
        (413, "Request body or row count over the server's limit"),
        (422, "Invalid settings, or data the engine cannot use"),
        (500, "Internal error (the traceback is in the server log only)"),
    )
}
_UPLOAD_ERRORS = {**_ERRORS, 403: {"model": m.ErrorResponse, "description":
                                   "Named datasets are off (no --data-root)"},
                  404: {"model": m.ErrorResponse, "description": "No such dataset"},
                  415: {"model": m.ErrorResponse, "description": "Not a CSV or Parquet file"}}
_NAMED_ERRORS = {k: v for k, v in _UPLOAD_ERRORS.items() if k != 415}

ReportFlag = Annotated[bool, Query(description="Add the self-contained HTML report as "
                                               "`report_html`.")]


def create_app(data_root: str | os.PathLike | None = None, *,
               max_body_bytes: int = MAX_BODY_BYTES, max_rows: int = MAX_ROWS,
               max_jobs: int | None = None,
               allowed_hosts: Iterable[str] | None = None) -> FastAPI:
    """The FastAPI application. ``data_root``: the folder whose datasets clients may name
    (None: naming datasets is off); ``max_body_bytes``: largest request body; ``max_rows``:
    most rows per dataset sent in a request (JSON rows or an uploaded file); ``max_jobs``:
    most engine calls at once, the others wait their turn (default: the number of CPUs —
    one DuckDB query already uses every core, so more at once only share them and hold
    more memory); ``allowed_hosts``: the only ``Host`` names answered (None: any; ``serve``
    on loopback passes ``limits.LOOPBACK_HOSTS``)."""
    max_jobs = (os.cpu_count() or 1) if max_jobs is None else max_jobs
    if max_body_bytes < 1 or max_rows < 1 or max_jobs < 1:
        raise InputError("the body, row and job limits must be positive")
    root = DataRoot(data_root) if data_root is not None else None
    app = FastAPI(
        title="Sentinel SQL", version=__version__, docs_url=None, redoc_url=None,
        description="Drift statistics and failing slices, computed by DuckDB SQL. "
                    "The dashboard is at [/](/).",
    )
    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed_hosts=frozenset(allowed_hosts))
    _handlers(app)
    add_pages(app)
    _routes(app, _Engine(root, max_jobs), max_rows, max_body_bytes)
    return app


# --------------------------------------------------------------------------------------------
# errors


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split()) or "error", **extra},
                        status_code=status)


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_req: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, str(exc))

    @app.exception_handler(InputError)
    async def input_error(_req: Request, exc: InputError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)  # a model built from form fields
    async def invalid(_req: Request, exc: RequestValidationError | ValidationError
                      ) -> JSONResponse:
        errors = exc.errors()
        details = [{"loc": [x if isinstance(x, int) else str(x) for x in e.get("loc", ())],
                    "msg": str(e.get("msg", ""))} for e in errors]
        if errors and errors[0].get("type") == "json_invalid":
            why = (errors[0].get("ctx") or {}).get("error", "")
            return _error(422, f"the request body is not valid JSON: {why} (at character "
                               f"{details[0]['loc'][-1]})", details=details)
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(x) for x in first["loc"][1:] or first["loc"]) or "request"
        if first["loc"] == ["body"]:
            where = "request body (send a JSON object, Content-Type: application/json)"
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        return _error(422, f"{where}: {first['msg']}{more}", details=details)

    @app.exception_handler(HTTPException)
    async def http_error(_req: Request, exc: HTTPException) -> JSONResponse:
        resp = _error(exc.status_code, str(exc.detail))
        resp.headers.update(exc.headers or {})
        return resp

    @app.exception_handler(Exception)
    async def internal(_req: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.error("internal error %s", ref, exc_info=exc)
        return _error(500, f"internal error (id {ref}): please report it; the details are "
                           "in the server log")


# --------------------------------------------------------------------------------------------
# the API


def _routes(app: FastAPI, engine: _Engine, max_rows: int, max_body_bytes: int) -> None:
    root = engine.root

    def named(name: str, field: str) -> Side:
        if root is None:
            raise ApiError(403, "naming datasets is off on this server: start it with "
                                "--data-root DIR")
        return root.resolve(name, field)

    def side(file: UploadFile | None, dataset: str | None, field: str, tmp: str) -> Side:
        if file is not None and dataset:
            raise InputError(f"{field}: give a file or {field}_dataset, not both")
        if file is not None:
            return save_upload(file.file, file.filename, field, tmp, max_rows)
        if dataset:
            return named(dataset, f"{field}_dataset")
        raise InputError(f"{field}: upload a file (or give {field}_dataset)")

    @app.get("/health", response_model=m.Health, tags=["server"])
    async def health() -> dict:  # on the event loop: answers while every worker computes
        return {"status": "ok", "version": __version__, "named_datasets": root is not None,
                "max_body_bytes": max_body_bytes, "max_rows": max_rows}

    @app.get("/datasets", response_model=m.DatasetList, tags=["server"], responses={
        403: _NAMED_ERRORS[403], 500: _ERRORS[500]})
    def datasets() -> dict:
        """The files under the server's data folder that can be named in a request."""
        if root is None:
            raise ApiError(403, "naming datasets is off on this server: start it with "
                                "--data-root DIR")
        found, truncated = root.listing()
        return {"datasets": found, "truncated": truncated}

    @app.post("/detect-drift", tags=["drift"], response_class=JSONResponse,
              responses={200: {"model": m.DriftResponse}, **_ERRORS})
    def detect_drift(body: m.DriftRequest, report: ReportFlag = False) -> JSONResponse:
        """Compare `production_data` with `reference_data` (lists of row objects)."""
        ref = frame_from_rows(body.reference_data, "reference_data", max_rows)
        cur = frame_from_rows(body.production_data, "production_data", max_rows)
        return engine.drift(ref, cur, body.settings, report)

    @app.post("/detect-drift/upload", tags=["drift"], response_class=JSONResponse,
              responses={200: {"model": m.DriftResponse}, **_UPLOAD_ERRORS})
    def detect_drift_upload(
        reference: Annotated[UploadFile | None, File(description="CSV or Parquet")] = None,
        current: Annotated[UploadFile | None, File(description="CSV or Parquet")] = None,
        reference_dataset: Annotated[str | None, Form(max_length=1024)] = None,
        current_dataset: Annotated[str | None, Form(max_length=1024)] = None,
        columns: Annotated[str | None, Form(description="Comma-separated")] = None,
        exclude: Annotated[str | None, Form(description="Comma-separated")] = None,
        kinds: Annotated[str | None, Form(description="e.g. zip=categorical,age=numeric")
                         ] = None,
        alpha: Annotated[float, Form(gt=0, lt=1, allow_inf_nan=False)] = 0.05,
        psi_threshold: Annotated[float, Form(ge=0, allow_inf_nan=False)] = 0.1,
        decision: Annotated[m.Decision, Form()] = "both",
        drift_share: Annotated[float, Form(ge=0, le=1, allow_inf_nan=False)] = 0.0,
        schema_drift: Annotated[bool, Form()] = True,
        null_threshold: Annotated[float, Form(ge=0, le=1, allow_inf_nan=False)] = 0.05,
        report: ReportFlag = False,
    ) -> JSONResponse:
        """Compare two uploaded files (CSV, TSV, gzipped CSV or Parquet); either side may
        instead name a dataset on the server (`reference_dataset`, `current_dataset`)."""
        settings = m.DriftSettings(
            columns=_names(columns), exclude=_names(exclude), kinds=_kinds(kinds),
            alpha=alpha, psi_threshold=psi_threshold, decision=decision,
            drift_share=drift_share, schema_drift=schema_drift, null_threshold=null_threshold)
        with tempfile.TemporaryDirectory(prefix="sentinel-upload-") as tmp:
            ref = side(reference, reference_dataset, "reference", tmp)
            cur = side(current, current_dataset, "current", tmp)
            return engine.drift(ref, cur, settings, report)

    @app.post("/detect-drift/datasets", tags=["drift"], response_class=JSONResponse,
              responses={200: {"model": m.DriftResponse}, **_NAMED_ERRORS})
    def detect_drift_datasets(body: m.NamedDriftRequest, report: ReportFlag = False
                              ) -> JSONResponse:
        """Compare two datasets under the server's data folder, by name."""
        ref = named(body.reference, "reference")
        cur = named(body.current, "current")
        return engine.drift(ref, cur, body.settings, report)

    @app.post("/slices", tags=["slices"], response_class=JSONResponse,
              responses={200: {"model": m.SliceResponse}, **_ERRORS})
    def slices(body: m.SliceRequest) -> JSONResponse:
        """The slices (feature-value conjunctions) where the model's error is far above
        average, in `data` (a list of row objects)."""
        return engine.slices(frame_from_rows(body.data, "data", max_rows), body.settings)

    @app.post("/slices/upload", tags=["slices"], response_class=JSONResponse,
              responses={200: {"model": m.SliceResponse}, **_UPLOAD_ERRORS})
    def slices_upload(
        data: Annotated[UploadFile | None, File(description="CSV or Parquet")] = None,
        data_dataset: Annotated[str | None, Form(max_length=1024)] = None,
        label: Annotated[str | None, Form()] = None,
        prediction: Annotated[str | None, Form()] = None,
        error: Annotated[str | None, Form()] = None,
        features: Annotated[str | None, Form(description="Comma-separated")] = None,
        top_k: Annotated[int, Form(ge=1, le=m.MAX_TOP_K)] = 10,
        max_level: Annotated[int, Form(ge=1, le=m.MAX_LEVEL)] = 3,
        min_support: Annotated[int | float, Form(allow_inf_nan=False)] = 0.01,
        alpha: Annotated[float, Form(gt=0, le=1, allow_inf_nan=False)] = 0.95,
        bins: Annotated[int, Form(ge=2, le=m.MAX_BINS)] = 5,
        task: Annotated[m.Task, Form()] = "auto",
    ) -> JSONResponse:
        """Slices of an uploaded file (or of `data_dataset` on the server)."""
        settings = m.SliceSettings(
            label=label or None, prediction=prediction or None, error=error or None,
            features=_names(features), top_k=top_k, max_level=max_level,
            min_support=min_support, alpha=alpha, bins=bins, task=task)
        with tempfile.TemporaryDirectory(prefix="sentinel-upload-") as tmp:
            return engine.slices(side(data, data_dataset, "data", tmp), settings)

    @app.post("/slices/datasets", tags=["slices"], response_class=JSONResponse,
              responses={200: {"model": m.SliceResponse}, **_NAMED_ERRORS})
    def slices_datasets(body: m.NamedSliceRequest) -> JSONResponse:
        """Slices of a dataset under the server's data folder, by name."""
        return engine.slices(named(body.dataset, "dataset"), body.settings)


# --------------------------------------------------------------------------------------------
# engine calls


class _Engine:
    """The engine calls, at most ``jobs`` at once; source names as the client gave them."""

    def __init__(self, root: DataRoot | None, jobs: int) -> None:
        self.root = root
        self.slots = threading.BoundedSemaphore(jobs)

    def drift(self, ref: Side, cur: Side, s: m.DriftSettings, report: bool) -> JSONResponse:
        from ..drift import compare
        from ..report import render_html

        with self.slots:
            try:
                result = compare(ref.data, cur.data, **s.model_dump()).to_dict()
            except InputError as exc:
                raise InputError(_relabel(str(exc), (ref, cur), self.root)) from None
            result["reference"]["source"] = ref.source
            result["current"]["source"] = cur.source
            if report:
                result["report_html"] = render_html(result)
        return JSONResponse(result)

    def slices(self, data: Side, s: m.SliceSettings) -> JSONResponse:
        from ..slices import find_slices

        with self.slots:
            try:
                res = find_slices(data.data, **s.model_dump())
            except InputError as exc:
                raise InputError(_relabel(str(exc), (data,), self.root)) from None
        out = _finite(res.to_dict())
        for d, s_ in zip(out["slices"], res.slices, strict=True):
            d["text"] = s_.text
        out["source"] = data.source
        return JSONResponse(out)


def _finite(x: Any) -> Any:
    """JSON has no NaN or infinity: they become null (as in the drift contract)."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    return x


def _relabel(message: str, sides: Iterable[Side], root: DataRoot | None) -> str:
    """The engine names a source by its path: name it as the client did instead."""
    sides = list(sides)
    frames = [s for s in sides if s.path is None]
    for s in sides:
        if s.path:
            message = message.replace(str(s.data), s.label).replace(s.path, s.label)
    if len(frames) == 1:  # JSON rows: the engine calls them by their type
        message = message.replace("<polars DataFrame>", frames[0].label)
    if root is not None:
        message = message.replace(root.root + os.sep, "")
    return message


def _names(value: str | None) -> list[str] | None:
    """``a,b,"c,d"`` -> ``[a, b, "c,d"]`` (CSV quoting, as the CLI's --columns)."""
    if value is None or not value.strip():
        return None
    try:
        return [n for row in csv.reader([value], skipinitialspace=True) for n in row if n]
    except csv.Error as exc:
        raise InputError(f"cannot read the column list {value!r}: {exc}") from None


def _kinds(value: str | None) -> dict[str, str] | None:
    out = {}
    for item in _names(value) or ():
        name, sep, kind = item.rpartition("=")
        if not sep or not name or kind.strip().lower() not in ("numeric", "categorical"):
            raise InputError(f"kinds: expected COLUMN=numeric or COLUMN=categorical, "
                             f"not {item!r}")
        out[name] = kind.strip().lower()
    return out or None
