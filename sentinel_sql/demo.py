"""``sentinel demo``: a small credit-scoring lake with planted drift and a planted failing segment.

The data (numpy, seeded, a few seconds at most) is a loan-default model's scoring log:

- ``reference/month=2025-01 … 2025-03/part-0.parquet`` — the period the model was validated on;
- ``current/month=2025-04 … 2025-06/part-0.parquet`` — production since then.

Columns: ``age``, ``income``, ``loan_amount``, ``credit_score``, ``debt_to_income``,
``months_employed``, ``employment_type``, ``region``, ``home_ownership``, ``label`` (1 = the
loan defaulted) and ``prediction`` (the model's 0/1 decision). The hive key ``month`` is a
column too; the demo leaves it out of the drift comparison (``--exclude month``).

What is planted in ``current`` (everything else keeps its reference distribution):

- **income** shifts up by about 25% (a new marketing channel brings richer applicants);
- **employment_type** gains a new category, ``'gig'`` (about 15% of applicants);
- **months_employed** goes from 2% to about 25% missing: an upstream join now drops most
  applicants employed for less than three years, so the values left shift up too;
- **the failing segment**: for applicants with ``age < 25 AND employment_type = 'gig'`` (about
  10% of current rows) the model is wrong about half the time, against about 8% elsewhere.
  ``slices.find_slices(current, label="label", prediction="prediction")`` finds it.

>>> import tempfile
>>> paths = build_dataset(tempfile.mkdtemp(), rows_per_month=200)
>>> sorted(p.name for p in paths.current.iterdir())
['month=2025-04', 'month=2025-05', 'month=2025-06']
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE_MONTHS = ("2025-01", "2025-02", "2025-03")
CURRENT_MONTHS = ("2025-04", "2025-05", "2025-06")
EXCLUDE = ("month",)  # the hive partition key: different by construction, not drift
FEATURES = ("age", "income", "loan_amount", "credit_score", "debt_to_income",
            "months_employed", "employment_type", "region", "home_ownership")
DEFAULT_ROWS_PER_MONTH = 8000
SEED = 20250101


@dataclass(frozen=True)
class DemoPaths:
    root: Path
    reference: Path
    current: Path
    report: Path


def _month(rng: np.random.Generator, n: int, *, current: bool) -> dict[str, np.ndarray]:
    """One month of scoring log as numpy columns."""
    if current:
        types, probs = ["salaried", "self_employed", "contractor", "unemployed", "gig"], [
            0.53, 0.16, 0.10, 0.06, 0.15]
    else:
        types, probs = ["salaried", "self_employed", "contractor", "unemployed"], [
            0.62, 0.19, 0.12, 0.07]
    employment = rng.choice(types, size=n, p=probs)
    gig = employment == "gig"

    # age: ~15% are 18-24 overall; gig workers are mostly young
    young = np.where(gig, rng.random(n) < 0.65, rng.random(n) < 0.12)
    age = np.where(
        young,
        rng.integers(18, 25, n),
        np.clip(np.round(rng.normal(44, 11, n)), 25, 75),
    ).astype(np.int64)

    income = rng.lognormal(np.log(48_000), 0.5, n) * (1.25 if current else 1.0)
    income = np.round(income, 2)
    loan_amount = np.round(rng.lognormal(np.log(12_000), 0.6, n), 2)
    credit_score = np.clip(np.round(rng.normal(680, 60, n)), 300, 850).astype(np.int64)
    debt_to_income = np.round(rng.beta(2, 5, n) * 0.8, 4)
    months_employed = np.maximum(0, np.round(rng.gamma(2.0, 30.0, n))).astype(np.float64)
    # missing: 2% at random; in current an upstream join also drops most recent hires
    lost = rng.random(n) < 0.02
    if current:
        lost |= (months_employed < 36) & (rng.random(n) < 0.6)
    months_employed[lost] = np.nan  # -> NULL
    region = rng.choice(["north", "south", "east", "west", "central"], size=n,
                        p=[0.22, 0.24, 0.18, 0.21, 0.15])
    home = rng.choice(["rent", "mortgage", "own"], size=n, p=[0.45, 0.40, 0.15])

    # default risk: worse credit, higher debt ratio, lower income, no job -> more defaults
    z = (
        -2.2
        - (credit_score - 680) / 45
        + 3.0 * (debt_to_income - 0.23)
        - 0.6 * (np.log(income) - np.log(48_000))
        + 1.2 * (employment == "unemployed")
        + 0.5 * gig
    )
    label = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)

    # the model: right ~92% of the time, but a coin flip on young gig workers it never saw
    segment = young & gig
    wrong = rng.random(n) < np.where(segment, 0.50, 0.08)
    prediction = np.where(wrong, 1 - label, label).astype(np.int64)
    return {
        "age": age,
        "income": income,
        "loan_amount": loan_amount,
        "credit_score": credit_score,
        "debt_to_income": debt_to_income,
        "months_employed": months_employed,
        "employment_type": employment,
        "region": region,
        "home_ownership": home,
        "label": label,
        "prediction": prediction,
    }


def _write_month(folder: Path, columns: dict[str, np.ndarray]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, values in columns.items():
        if values.dtype.kind == "f":
            arrays[name] = pa.array(values, mask=np.isnan(values))  # NaN -> NULL
        else:
            arrays[name] = pa.array(values)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".part-0.parquet.tmp"
    pq.write_table(pa.table(arrays), tmp)
    os.replace(tmp, folder / "part-0.parquet")


def build_dataset(
    out: str | os.PathLike, *, rows_per_month: int = DEFAULT_ROWS_PER_MONTH, seed: int = SEED
) -> DemoPaths:
    """Write the demo lake under ``out`` (created if needed) and return its paths."""
    root = Path(out)
    rng = np.random.default_rng(seed)
    paths = DemoPaths(root, root / "reference", root / "current", root / "report.html")
    for part, months, current in (
        (paths.reference, REFERENCE_MONTHS, False),
        (paths.current, CURRENT_MONTHS, True),
    ):
        for month in months:
            _write_month(part / f"month={month}", _month(rng, rows_per_month, current=current))
    return paths


def find_top_slices(current: str | os.PathLike, k: int = 3) -> Any | None:
    """The ``k`` worst slices of the current data (a ``SliceResult``); None without slices."""
    try:
        from .slices import find_slices
    except ImportError:
        return None
    return find_slices(os.fspath(current), label="label", prediction="prediction", top_k=k)


def slice_lines(res: Any) -> list[str]:
    """A ``SliceResult`` as a few lines of text."""
    lines = [f"Where the model fails: top {len(res.slices)} slices of the current data "
             f"(average error {res.average_error:.1%} over {res.rows:,} rows)"]
    for i, s in enumerate(res.slices, 1):
        lines.append(f"  {i}. {s.text}: error {s.average_error:.1%} on {s.size:,} rows "
                     f"(score {s.score:.2f})")
    return lines


def explain(paths: DemoPaths, k: int = 3) -> dict[str, Any]:
    """Root cause: the slices that explain the rise in error from reference to current."""
    from .slices import explain_drop

    return explain_drop(os.fspath(paths.reference), os.fspath(paths.current), label="label",
                        prediction="prediction", top_k=k,
                        features=[c for c in FEATURES if c not in EXCLUDE]).to_dict()


def drop_lines(drop: dict[str, Any]) -> list[str]:
    """A root-cause result (``DropResult.to_dict()``) as a few lines of text."""
    ref, cur = drop["reference"], drop["current"]
    lines = [f"What explains the drop: error {ref['average_error']:.1%} -> "
             f"{cur['average_error']:.1%}; slices by their part of the change"]
    for i, s in enumerate(drop["slices"], 1):
        lines.append(f"  {i}. {s['slice']}: {s['share_of_change']:.0%} of the change "
                     f"(got worse {s['got_worse']:+.4f}, grew {s['grew']:+.4f})")
    return lines


@dataclass
class DemoRun:
    paths: DemoPaths
    drift: dict[str, Any]  # DriftResult.to_dict()
    slices: Any | None  # SliceResult, or None when slice discovery is not available
    drop: dict[str, Any] | None = None  # the root cause of the drop in performance


def run(
    out: str | os.PathLike,
    *,
    rows_per_month: int = DEFAULT_ROWS_PER_MONTH,
    progress: Callable[[str], None] | None = None,
) -> DemoRun:
    """Build the lake, compare current with reference, write the HTML report, find slices."""
    from .drift import compare
    from .report import write_html

    say = progress or (lambda _msg: None)
    say(f"writing the demo data to {out}")
    paths = build_dataset(out, rows_per_month=rows_per_month)
    result = compare(os.fspath(paths.reference), os.fspath(paths.current),
                     exclude=list(EXCLUDE), progress=progress).to_dict()
    say("writing the HTML report")
    write_html(result, paths.report)
    say("looking for failing slices")
    top = find_top_slices(paths.current)
    return DemoRun(paths, result, top, explain(paths) if top is not None else None)
