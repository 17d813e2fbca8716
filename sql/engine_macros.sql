-- Macros the Sentinel engine defines on its own connection before scanning.
-- They also work in the DuckDB command-line client: `.read sql/engine_macros.sql`.

-- A numeric value as DOUBLE for distribution measures: NULL for NULL, NaN and +-inf;
-- -0.0 folded into +0.0 so that equal values always share a histogram bin.
CREATE OR REPLACE TEMP MACRO sentinel_finite(x) AS
    CASE WHEN isfinite(CAST(x AS DOUBLE)) THEN CAST(x AS DOUBLE) + 0.0 END;

-- The IEEE-754 bits of a DOUBLE as a signed BIGINT whose order is the order of the values
-- (negative values have their magnitude bits flipped). `sentinel_ord(x) >> s` is therefore a
-- monotone bin key: bins are exact, data-independent intervals, 2^s codes wide. s = 0 gives
-- one bin per distinct value.
CREATE OR REPLACE TEMP MACRO sentinel_ord(x) AS
    CASE WHEN CAST(CAST(x AS BIT) AS BIGINT) >= 0
         THEN CAST(CAST(x AS BIT) AS BIGINT)
         ELSE xor(CAST(CAST(x AS BIT) AS BIGINT), 9223372036854775807) END;
