-- The p-value functions. These need Python: `sentinel_sql.macros.register(con)` defines the
-- scalar functions sentinel_py_ks_p_value and sentinel_py_chi2_p_value (scipy), then runs
-- this file. It is not part of `sentinel sql` output and does not work in the plain CLI.

-- Two-sided two-sample KS p-value of statistic d for sample sizes n and m, equal to
-- scipy.stats.ks_2samp (method "auto"); NULL if n or m is 0.
CREATE OR REPLACE TEMP MACRO ks_p_value(d DOUBLE, n BIGINT, m BIGINT) AS
    CASE WHEN n <> 0 AND m <> 0 THEN sentinel_py_ks_p_value(d, n, m) END;
COMMENT ON MACRO ks_p_value IS
    'sentinel_sql: two-sided two-sample KS p-value, as scipy.stats.ks_2samp (needs Python)';

-- scipy.stats.chi2.sf(statistic, dof); 1 for dof = 0 (a single category, as compare).
CREATE OR REPLACE TEMP MACRO chi2_p_value(statistic DOUBLE, dof BIGINT) AS
    sentinel_py_chi2_p_value(statistic, dof);
COMMENT ON MACRO chi2_p_value IS
    'sentinel_sql: chi-square survival function, scipy.stats.chi2.sf (needs Python)';

-- Point the drift macros' p-value hooks at the Python functions.
CREATE OR REPLACE TEMP MACRO sentinel_ks_p(d, n, m) AS
    CASE WHEN n <> 0 AND m <> 0 THEN sentinel_py_ks_p_value(d, n, m) END;
CREATE OR REPLACE TEMP MACRO sentinel_chi2_p(statistic, dof) AS
    sentinel_py_chi2_p_value(statistic, dof);
