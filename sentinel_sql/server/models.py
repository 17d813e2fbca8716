"""The request and response shapes of the HTTP API (pydantic models: validation and OpenAPI).

Request models forbid unknown fields, so a misspelt setting is a 422 naming it, never a
silently ignored option. Response models document the JSON contract; the server returns the
engine's ``to_dict()`` as is (plus the fields marked *server*), it does not re-serialise it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Row = dict[str, Any]
Kind = Literal["numeric", "categorical"]
Decision = Literal["both", "test", "effect"]
Task = Literal["auto", "classification", "regression"]

# search bounds a client may ask for: the cost of a slice search grows fast with these
MAX_TOP_K = 1000
MAX_LEVEL = 4
MAX_BINS = 50


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class DriftSettings(_Strict):
    """Options of ``sentinel_sql.drift.compare`` (the CLI's ``sentinel drift`` options)."""

    columns: list[str] | None = Field(None, description="Compare only these columns.")
    exclude: list[str] | None = Field(None, description="Leave these columns out.")
    kinds: dict[str, Kind] | None = Field(
        None, description="Per-column kind override, e.g. {\"zip\": \"categorical\"}.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level (BH-adjusted).")
    psi_threshold: float = Field(0.1, ge=0, description="PSI at or above which a shift counts.")
    decision: Decision = Field(
        "both", description="both: test AND PSI; test: the test alone; effect: the PSI alone.")
    drift_share: float = Field(
        0.0, ge=0, le=1, description="Share of columns that must drift (0: any one).")
    schema_drift: bool = Field(True, description="Added/removed/retyped columns make drift.")
    null_threshold: float = Field(
        0.05, ge=0, le=1, description="Move in the share of missing values that counts.")


class DriftRequest(_Strict):
    """Two datasets as lists of row objects: ``[{"age": 25, "income": 50000}, ...]``."""

    reference_data: list[Row] = Field(..., min_length=1, description="Reference rows.")
    production_data: list[Row] = Field(
        ..., min_length=1, description="Current (production) rows.")
    settings: DriftSettings = Field(default_factory=DriftSettings)

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "reference_data": [{"age": 25, "income": 50000}],
        "production_data": [{"age": 45, "income": 90000}],
    }]})


class NamedDriftRequest(_Strict):
    """Two datasets by name, relative to the server's data folder (``--data-root``)."""

    reference: str = Field(..., min_length=1, max_length=1024,
                           description="e.g. ref.parquet, lake/2025-01, wh.duckdb::sales, "
                                       "ref.profile.json")
    current: str = Field(..., min_length=1, max_length=1024)
    settings: DriftSettings = Field(default_factory=DriftSettings)


class SliceSettings(_Strict):
    """Options of ``sentinel_sql.slices.find_slices``: give ``error`` or ``label`` and
    ``prediction``."""

    label: str | None = None
    prediction: str | None = None
    error: str | None = Field(None, description="A column of non-negative errors per row.")
    features: list[str] | None = Field(None, description="Default: every other column.")
    top_k: int = Field(10, ge=1, le=MAX_TOP_K)
    max_level: int = Field(3, ge=1, le=MAX_LEVEL)
    min_support: int | float = Field(
        0.01, description="A row count (int >= 1) or a fraction of the rows (float in (0, 1)).")
    alpha: float = Field(0.95, gt=0, le=1)
    bins: int = Field(5, ge=2, le=MAX_BINS)
    task: Task = "auto"


class SliceRequest(_Strict):
    data: list[Row] = Field(..., min_length=1, description="Rows with features, label and "
                                                            "prediction (or an error column).")
    settings: SliceSettings = Field(default_factory=SliceSettings)


class NamedSliceRequest(_Strict):
    dataset: str = Field(..., min_length=1, max_length=1024)
    settings: SliceSettings = Field(default_factory=SliceSettings)


# --------------------------------------------------------------------------------------------
# responses


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer: one line naming the field, column, option or file at fault."""

    error: str
    details: list[ErrorDetail] | None = Field(
        None, description="Request validation only: every failing field.")


class SideSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    source: str | None = Field(None, description="server: the field, file or dataset name")
    rows: int


class DriftResponse(BaseModel):
    """The drift JSON contract (as ``sentinel drift --format json``)."""

    model_config = ConfigDict(extra="allow")

    drift_detected: bool
    drifted_columns: list[str]
    reference: SideSummary
    current: SideSummary
    columns: list[dict[str, Any]]
    schema_changes: list[dict[str, Any]]
    settings: dict[str, Any]
    report_html: str | None = Field(
        None, description="server: the self-contained HTML report, with ?report=true")


class SliceOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    predicates: list[dict[str, Any]]
    size: int
    error_sum: float
    average_error: float
    max_error: float
    score: float
    text: str = Field(..., description="server: readable form, e.g. age in (16, 22] AND x = 'a'")


class SliceResponse(BaseModel):
    """The slices JSON contract (``SliceResult.to_dict()``), plus ``source``."""

    model_config = ConfigDict(extra="allow")

    rows: int
    average_error: float
    excluded_rows: int
    task: str
    min_support_rows: int
    slices: list[SliceOut]
    source: str | None = Field(None, description="server: the field, file or dataset name")


class Dataset(BaseModel):
    name: str
    format: Literal["parquet", "csv", "profile", "duckdb"]
    bytes: int


class DatasetList(BaseModel):
    datasets: list[Dataset]
    truncated: bool


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    named_datasets: bool
    max_body_bytes: int
    max_rows: int
