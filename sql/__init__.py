"""SQL files shipped with Sentinel (installed as the ``sentinel_sql.sql`` package)."""
