import os

import pytest
from hypothesis import settings

# CI and a plain `pytest` run the same hypothesis examples every time (a seed per test), so a
# landing never depends on luck; `SENTINEL_HYPOTHESIS=explore pytest` searches new examples
# (random seeds) and is how edge cases are hunted before they are pinned with
# @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("SENTINEL_HYPOTHESIS", "ci"))


@pytest.fixture
def force_narrow(monkeypatch):
    """Make the engine take its refine/fetch paths even on tiny data."""
    from sentinel_sql import exact, scan

    monkeypatch.setattr(exact, "SMALL_TOTAL", 0)
    monkeypatch.setattr(exact, "FETCH_MAX", 3)
    monkeypatch.setattr(exact, "GRID_FETCH_TOTAL", 20)
    monkeypatch.setattr(exact, "GRID_FETCH_MAX", 3)
    monkeypatch.setattr(exact, "REFINE_ROWS", 2)
    monkeypatch.setattr(scan, "FIRST_GRID", 1)  # a coarse first pass: deep refinement


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for all Spark tests (skipped where pyspark or Java is absent)."""
    pytest.importorskip("pyspark")
    import shutil

    if shutil.which("java") is None and not __import__("os").environ.get("JAVA_HOME"):
        pytest.skip("Java is not installed (.ci/run installs Java 17)")
    from sentinel_sql import spark as sp

    session = sp.session("local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
