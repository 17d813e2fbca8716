import pytest


@pytest.fixture
def force_narrow(monkeypatch):
    """Make the engine take its refine/fetch paths even on tiny data."""
    from sentinel_sql import exact

    monkeypatch.setattr(exact, "SMALL_TOTAL", 0)
    monkeypatch.setattr(exact, "FETCH_MAX", 3)
