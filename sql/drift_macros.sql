-- Sentinel drift statistics as DuckDB macros. Pure SQL: no Python needed.
--
-- Needs sql/engine_macros.sql first (for sentinel_finite). In the DuckDB command-line client:
--     .read engine_macros.sql
--     .read drift_macros.sql
-- or `sentinel sql > sentinel.sql` (both files) and `.read sentinel.sql` / `duckdb -init`.
--
-- Public names (everything else is a `sentinel_` helper; that prefix is reserved):
--     psi(ref_counts, cur_counts)            population stability index of two count lists
--     js_distance(ref_counts, cur_counts)    Jensen-Shannon distance, base 2
--     hellinger(ref_counts, cur_counts)      Hellinger distance in [0, 1]
--     sentinel_linf(ref_counts, cur_counts)  largest absolute difference of proportions
--     sentinel_chi2_statistic(ref_counts, cur_counts)   chi-square homogeneity statistic
--     sentinel_chi2_dof(ref_counts, cur_counts)         its degrees of freedom
--     sentinel_drift(ref_table, cur_table)              one row per column, as compare()
--     sentinel_drift_column(ref_table, cur_table, column_name)
--
-- The p-values (and so the test-based verdicts) need the Python functions ks_p_value and
-- chi2_p_value, which `sentinel_sql.macros.register(con)` adds. Without them the drift macros
-- return every statistic and NULL p-values; `drifted` is then true/false where the statistics
-- alone decide it (e.g. PSI below the threshold and no shift in missing values: false) and
-- NULL where only a p-value could.
--
-- The drift macros are exact and sort-based (one pass to long form, a sort per numeric
-- column): fine for tables up to a few million values; for larger data use
-- sentinel_sql.compare or the `sentinel drift` command, which read the data in a single scan.
--
-- Definitions follow DESIGN.md "Statistics: exact definitions" and sentinel_sql/stats.py.
-- Count lists: equal length, finite, non-negative (an error otherwise); NULL where the Python
-- functions return nan (a side whose counts sum to 0), and NULL for a NULL list.
-- Every macro is TEMP: it lives in this connection only, also on a read-only database.

-- --------------------------------------------------------------------------- count lists

-- NULL if either list is NULL; false if a side sums to 0; true otherwise; an error if invalid.
CREATE OR REPLACE TEMP MACRO sentinel_counts_ok(fn, ref_counts, cur_counts) AS CASE
    WHEN ref_counts IS NULL OR cur_counts IS NULL THEN NULL
    WHEN len(ref_counts) <> len(cur_counts)
        THEN error(fn || ': ref_counts and cur_counts differ in length')
    WHEN len(list_filter(list_concat(ref_counts, cur_counts),
                         lambda cnt: cnt IS NULL OR NOT isfinite(CAST(cnt AS DOUBLE)) OR cnt < 0)) > 0
        THEN error(fn || ': counts must be finite and non-negative')
    ELSE coalesce(list_sum(ref_counts), 0) > 0 AND coalesce(list_sum(cur_counts), 0) > 0
END;

-- counts / sum(counts), as DOUBLE.
CREATE OR REPLACE TEMP MACRO sentinel_proportions(counts) AS
    list_transform(counts, lambda cnt: CAST(cnt AS DOUBLE) / CAST(list_sum(counts) AS DOUBLE));

-- PSI = sum((q - p) * (ln q - ln p)), p reference and q current proportions, 0 -> 1e-4.
CREATE OR REPLACE TEMP MACRO sentinel_psi_of(p, q) AS list_sum(list_transform(
    list_zip(
        list_transform(p, lambda pr: CASE WHEN pr = 0 THEN CAST(0.0001 AS DOUBLE) ELSE pr END),
        list_transform(q, lambda pr: CASE WHEN pr = 0 THEN CAST(0.0001 AS DOUBLE) ELSE pr END)),
    lambda pq: (pq[2] - pq[1]) * (ln(pq[2]) - ln(pq[1]))));

CREATE OR REPLACE TEMP MACRO psi(ref_counts, cur_counts) AS CASE
    WHEN sentinel_counts_ok('psi', ref_counts, cur_counts)
    THEN sentinel_psi_of(sentinel_proportions(ref_counts), sentinel_proportions(cur_counts))
END;
COMMENT ON MACRO psi IS
    'sentinel_sql: population stability index of two count lists, eps = 1e-4 (sentinel_sql.stats.psi)';

-- sqrt((KL(p||m) + KL(q||m)) / (2 ln 2)), m = (p + q) / 2; a bin whose m is 0 adds 0.
CREATE OR REPLACE TEMP MACRO sentinel_rel_entr(x, y) AS CASE WHEN x > 0 THEN x * ln(x / y) ELSE 0.0 END;
CREATE OR REPLACE TEMP MACRO sentinel_js_of(p, q) AS sqrt(least(greatest(
    list_sum(list_transform(list_zip(p, q), lambda pq: CASE
        WHEN (pq[1] + pq[2]) / 2.0 > 0
        THEN sentinel_rel_entr(pq[1], (pq[1] + pq[2]) / 2.0)
           + sentinel_rel_entr(pq[2], (pq[1] + pq[2]) / 2.0)
        ELSE 0.0 END)) / ln(2.0) / 2.0, 0.0), 1.0));

CREATE OR REPLACE TEMP MACRO js_distance(ref_counts, cur_counts) AS CASE
    WHEN sentinel_counts_ok('js_distance', ref_counts, cur_counts)
    THEN sentinel_js_of(sentinel_proportions(ref_counts), sentinel_proportions(cur_counts))
END;
COMMENT ON MACRO js_distance IS
    'sentinel_sql: Jensen-Shannon distance, base 2, of two count lists (sentinel_sql.stats.js_distance)';

-- ||sqrt(p) - sqrt(q)||_2 / sqrt(2), at most 1.
CREATE OR REPLACE TEMP MACRO sentinel_hellinger_of(p, q) AS least(sqrt(0.5 * list_sum(list_transform(
    list_zip(p, q), lambda pq: (sqrt(pq[1]) - sqrt(pq[2])) * (sqrt(pq[1]) - sqrt(pq[2]))))), 1.0);

CREATE OR REPLACE TEMP MACRO hellinger(ref_counts, cur_counts) AS CASE
    WHEN sentinel_counts_ok('hellinger', ref_counts, cur_counts)
    THEN sentinel_hellinger_of(sentinel_proportions(ref_counts), sentinel_proportions(cur_counts))
END;
COMMENT ON MACRO hellinger IS
    'sentinel_sql: Hellinger distance in [0, 1] of two count lists (sentinel_sql.stats.hellinger)';

-- max |p - q|.
CREATE OR REPLACE TEMP MACRO sentinel_linf_of(p, q) AS
    list_max(list_transform(list_zip(p, q), lambda pq: abs(pq[1] - pq[2])));

CREATE OR REPLACE TEMP MACRO sentinel_linf(ref_counts, cur_counts) AS CASE
    WHEN sentinel_counts_ok('sentinel_linf', ref_counts, cur_counts)
    THEN sentinel_linf_of(sentinel_proportions(ref_counts), sentinel_proportions(cur_counts))
END;
COMMENT ON MACRO sentinel_linf IS
    'sentinel_sql: largest absolute difference of proportions of two count lists (sentinel_sql.stats.linf)';

-- Chi-square test of homogeneity on the 2 x k table [ref_counts, cur_counts], bins whose two
-- counts are 0 dropped: sum (O - E)^2 / E with E = row total * column total / total, as
-- scipy.stats.chi2_contingency(correction=False); dof = bins left - 1. One bin left, or an
-- empty side: statistic 0, dof 0 (and p-value 1).
CREATE OR REPLACE TEMP MACRO sentinel_chi2_terms(pairs, row_r, row_c) AS list_sum(list_transform(
    list_filter(pairs, lambda pair: pair[1] + pair[2] > 0),
    lambda pair:
        (pair[1] - row_r * (pair[1] + pair[2]) / (row_r + row_c))
      * (pair[1] - row_r * (pair[1] + pair[2]) / (row_r + row_c))
      / (row_r * (pair[1] + pair[2]) / (row_r + row_c))
      + (pair[2] - row_c * (pair[1] + pair[2]) / (row_r + row_c))
      * (pair[2] - row_c * (pair[1] + pair[2]) / (row_r + row_c))
      / (row_c * (pair[1] + pair[2]) / (row_r + row_c))));

-- The two without validation, for valid lists whose sums are both > 0.
CREATE OR REPLACE TEMP MACRO sentinel_chi2_dof_of(ref_counts, cur_counts) AS CAST(greatest(
    len(list_filter(list_zip(ref_counts, cur_counts), lambda pair: pair[1] + pair[2] > 0)) - 1,
    0) AS BIGINT);
CREATE OR REPLACE TEMP MACRO sentinel_chi2_of(ref_counts, cur_counts) AS CASE
    WHEN sentinel_chi2_dof_of(ref_counts, cur_counts) = 0 THEN CAST(0.0 AS DOUBLE)
    ELSE sentinel_chi2_terms(
        list_zip(list_transform(ref_counts, lambda cnt: CAST(cnt AS DOUBLE)),
                 list_transform(cur_counts, lambda cnt: CAST(cnt AS DOUBLE))),
        CAST(list_sum(ref_counts) AS DOUBLE), CAST(list_sum(cur_counts) AS DOUBLE))
END;

CREATE OR REPLACE TEMP MACRO sentinel_chi2_statistic(ref_counts, cur_counts) AS
    CASE sentinel_counts_ok('sentinel_chi2_statistic', ref_counts, cur_counts)
        WHEN true THEN sentinel_chi2_of(ref_counts, cur_counts)
        WHEN false THEN CAST(0.0 AS DOUBLE)
    END;
COMMENT ON MACRO sentinel_chi2_statistic IS
    'sentinel_sql: chi-square homogeneity statistic of two count lists (sentinel_sql.stats.chi2_homogeneity)';

CREATE OR REPLACE TEMP MACRO sentinel_chi2_dof(ref_counts, cur_counts) AS
    CASE sentinel_counts_ok('sentinel_chi2_dof', ref_counts, cur_counts)
        WHEN true THEN sentinel_chi2_dof_of(ref_counts, cur_counts)
        WHEN false THEN CAST(0 AS BIGINT)
    END;
COMMENT ON MACRO sentinel_chi2_dof IS
    'sentinel_sql: degrees of freedom of the chi-square homogeneity test (sentinel_sql.stats.chi2_homogeneity)';

-- --------------------------------------------------------------------------- p-value hooks

-- The drift macros call these; `register()` points them at the Python p-value functions.
-- IF NOT EXISTS: reading this file again does not undo a registration.
CREATE TEMP MACRO IF NOT EXISTS sentinel_ks_p(d, n, m) AS CAST(NULL AS DOUBLE);
CREATE TEMP MACRO IF NOT EXISTS sentinel_chi2_p(statistic, dof) AS CAST(NULL AS DOUBLE);

-- --------------------------------------------------------------------------- columns

-- 'numeric', 'categorical' or NULL (not compared) for a DuckDB type name: the rules of
-- sentinel_sql/kinds.py (dates and times are numeric; booleans, enums, UUIDs categorical).
-- LIKE rather than regular expressions: this runs (constant-folded) for every column at bind time.
CREATE OR REPLACE TEMP MACRO sentinel_kind_of(t) AS CASE
    WHEN t IN ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT',
               'UINTEGER', 'UBIGINT', 'UHUGEINT', 'FLOAT', 'DOUBLE', 'REAL', 'DATE')
         OR t LIKE 'DECIMAL%' OR t LIKE 'TIME%'
         OR (t LIKE 'INT%' AND ltrim(t[4:], '0123456789') = '')
        THEN 'numeric'
    WHEN t IN ('VARCHAR', 'BOOLEAN', 'UUID', 'STRING') OR t LIKE 'ENUM(%' OR t LIKE 'CHAR%'
        THEN 'categorical'
END;
CREATE OR REPLACE TEMP MACRO sentinel_kind(type_name) AS sentinel_kind_of(upper(type_name));

-- One cell of any column as {d: the number a numeric column is measured by (dates as days,
-- timestamps and times as microseconds since the epoch), s: the text of a categorical value}.
-- typeof() is a constant, so only the branch of the column's own type is evaluated.
CREATE OR REPLACE TEMP MACRO sentinel_cell(x) AS {
    'd': CASE
        WHEN typeof(x) = 'DATE' THEN date_diff('day', DATE '1970-01-01', TRY_CAST(x AS DATE))
        WHEN typeof(x) = 'TIMESTAMP WITH TIME ZONE' THEN epoch_us(TRY_CAST(x AS TIMESTAMPTZ))
        WHEN typeof(x) = 'TIMESTAMP_S' THEN epoch_us(TRY_CAST(x AS TIMESTAMP_S))
        WHEN typeof(x) = 'TIMESTAMP_MS' THEN epoch_us(TRY_CAST(x AS TIMESTAMP_MS))
        WHEN typeof(x) = 'TIMESTAMP_NS' THEN epoch_us(TRY_CAST(x AS TIMESTAMP_NS))
        WHEN typeof(x) LIKE 'TIMESTAMP%' THEN epoch_us(TRY_CAST(x AS TIMESTAMP))
        WHEN typeof(x) LIKE 'TIME%' THEN epoch_us(TRY_CAST(x AS TIME))
        WHEN sentinel_kind(typeof(x)) = 'numeric' THEN TRY_CAST(x AS DOUBLE) END,
    's': CASE WHEN sentinel_kind(typeof(x)) = 'categorical' THEN CAST(x AS VARCHAR) END
};

-- The columns of a table, view or file: name, type, kind, position.
CREATE OR REPLACE TEMP MACRO sentinel_columns(tbl) AS TABLE
    SELECT column_name, column_type, sentinel_kind(column_type) AS kind,
           row_number() OVER () AS ordinal
    FROM (DESCRIBE SELECT * FROM query_table(tbl));

-- Long form of a table: one row (column_name, d, s) per cell, d finite or NULL; `pick` NULL
-- means every column.
CREATE OR REPLACE TEMP MACRO sentinel_cells(tbl, pick) AS TABLE
    SELECT column_name, sentinel_finite(struct_extract(cell, 'd')) AS d,
           struct_extract(cell, 's') AS s
    FROM (UNPIVOT (SELECT sentinel_cell(COLUMNS(lambda col: pick IS NULL OR col = pick))
                   FROM query_table(tbl))
          ON COLUMNS(*) INTO NAME column_name VALUE cell);

-- --------------------------------------------------------------------------- drift

-- Statistics of every column present in both tables with the same kind (`pick`: only that one).
CREATE OR REPLACE TEMP MACRO sentinel_drift_statistics(ref_table, cur_table, pick) AS TABLE
WITH
cols AS (
    SELECT r.column_name, r.kind, r.column_type AS type_reference,
           c.column_type AS type_current, r.ordinal
    FROM sentinel_columns(ref_table) AS r
    JOIN sentinel_columns(cur_table) AS c USING (column_name)
    WHERE r.kind = c.kind AND (pick IS NULL OR column_name = pick)
),
-- one pass over both tables: counts per (column, numeric value, category), NULL cells included
grouped AS MATERIALIZED (
    SELECT column_name, d, s,
           count(*) FILTER (WHERE side = 'r') AS r, count(*) FILTER (WHERE side = 'c') AS c
    FROM (SELECT 'r' AS side, column_name, d, s FROM sentinel_cells(ref_table, pick)
          UNION ALL
          SELECT 'c' AS side, column_name, d, s FROM sentinel_cells(cur_table, pick))
    WHERE column_name IN (SELECT column_name FROM cols)
    GROUP BY column_name, d, s
),
sizes AS (
    SELECT column_name,
           CAST(sum(r) AS BIGINT) AS rows_r, CAST(sum(c) AS BIGINT) AS rows_c,
           CAST(coalesce(sum(r) FILTER (WHERE d IS NOT NULL OR s IS NOT NULL), 0) AS BIGINT)
               AS present_r,
           CAST(coalesce(sum(c) FILTER (WHERE d IS NOT NULL OR s IS NOT NULL), 0) AS BIGINT)
               AS present_c
    FROM grouped GROUP BY column_name
),
-- numeric: counts per distinct value and the two empirical CDFs (as counts <= value)
num_values AS MATERIALIZED (
    SELECT column_name, d AS v, r, c,
           CAST(sum(r) OVER w AS BIGINT) AS cum_r, CAST(sum(c) OVER w AS BIGINT) AS cum_c
    FROM grouped WHERE d IS NOT NULL
    WINDOW w AS (PARTITION BY column_name ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
num_sizes AS (
    SELECT column_name, present_r AS n, present_c AS m FROM sizes
    WHERE present_r > 0 AND present_c > 0
      AND column_name IN (SELECT column_name FROM cols WHERE kind = 'numeric')
),
-- KS: max |F_ref - F_cur| over the pooled values, F = count(<= x) / size (scipy's floats)
ks AS (
    SELECT column_name,
           max(abs(CAST(cum_r AS DOUBLE) / CAST(n AS DOUBLE)
                   - CAST(cum_c AS DOUBLE) / CAST(m AS DOUBLE))) AS ks_statistic
    FROM num_values JOIN num_sizes USING (column_name)
    GROUP BY column_name
),
-- reference deciles as numpy.quantile (linear): ranks, then order statistics, then numpy's lerp
decile_ranks AS (
    SELECT column_name, q.i, CAST(n - 1 AS DOUBLE) * q.q AS virt,
           CAST(floor(virt) AS BIGINT) AS prev,
           least(prev + 1, n - 1) AS nxt,
           virt - floor(virt) AS gamma
    FROM num_sizes,
         (SELECT unnest(range(1, 10)) AS i,
                 unnest(CAST([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] AS DOUBLE[])) AS q) AS q
),
-- the reference value of 0-based rank k is the v with cum_r - r <= k < cum_r
ref_ranks AS (SELECT column_name, v, cum_r - r AS first_rank, cum_r FROM num_values WHERE r > 0),
deciles AS (
    SELECT k.column_name, k.i, k.gamma, lo.v AS lo, hi.v AS hi
    FROM decile_ranks AS k
    JOIN ref_ranks AS lo
      ON lo.column_name = k.column_name AND k.prev >= lo.first_rank AND k.prev < lo.cum_r
    JOIN ref_ranks AS hi
      ON hi.column_name = k.column_name AND k.nxt >= hi.first_rank AND k.nxt < hi.cum_r
),
edges AS (
    SELECT column_name, list_sort(list_distinct(list(CASE
               WHEN gamma >= 0.5 THEN hi - (hi - lo) * (1 - gamma)
               ELSE lo + (hi - lo) * gamma END))) AS edges
    FROM deciles GROUP BY column_name
),
-- counts per right-closed bin (e[j-1], e[j]], outer bins open: the bin of v is #(edges < v)
num_bins AS (
    SELECT column_name, bin, CAST(sum(r) AS BIGINT) AS r, CAST(sum(c) AS BIGINT) AS c
    FROM (SELECT column_name, len(list_filter(e.edges, lambda edge: edge < v.v)) AS bin, v.r, v.c
          FROM num_values AS v JOIN edges AS e USING (column_name))
    GROUP BY column_name, bin
),
num_hist AS (
    SELECT column_name,
           list(coalesce(h.r, 0) ORDER BY bin) AS reference_counts,
           list(coalesce(h.c, 0) ORDER BY bin) AS current_counts
    FROM (SELECT column_name, unnest(range(len(edges) + 1)) AS bin FROM edges) AS all_bins
    LEFT JOIN num_bins AS h USING (column_name, bin)
    GROUP BY column_name
),
numeric AS (
    SELECT column_name, ks_statistic, edges AS bin_edges, reference_counts, current_counts
    FROM ks JOIN edges USING (column_name) JOIN num_hist USING (column_name)
),
-- categorical: one bin per category of the union of both sides, in code point order
categorical AS (
    SELECT column_name,
           list(s ORDER BY s) AS categories,
           list(r ORDER BY s) AS reference_counts,
           list(c ORDER BY s) AS current_counts,
           coalesce(list(s ORDER BY s) FILTER (WHERE r = 0), []) AS new_categories,
           coalesce(list(s ORDER BY s) FILTER (WHERE c = 0), []) AS missing_categories
    FROM grouped WHERE s IS NOT NULL
    GROUP BY column_name
    HAVING sum(r) > 0 AND sum(c) > 0
),
joined AS (
    SELECT cols.column_name, cols.kind, cols.type_reference, cols.type_current, cols.ordinal,
           coalesce(sizes.rows_r, 0) AS rows_reference,
           coalesce(sizes.rows_c, 0) AS rows_current,
           coalesce(sizes.present_r, 0) AS count_reference,
           coalesce(sizes.present_c, 0) AS count_current,
           numeric.ks_statistic,
           coalesce(numeric.reference_counts, categorical.reference_counts) AS ref_counts,
           coalesce(numeric.current_counts, categorical.current_counts) AS cur_counts,
           numeric.bin_edges,
           categorical.categories,
           categorical.new_categories,
           categorical.missing_categories
    FROM cols
    LEFT JOIN sizes USING (column_name)
    LEFT JOIN numeric USING (column_name)
    LEFT JOIN categorical USING (column_name)
),
-- counts valid, both sides non-empty (or NULL lists): the unchecked forms of the list macros
measured AS (
    SELECT *,
           sentinel_proportions(ref_counts) AS p, sentinel_proportions(cur_counts) AS q,
           [rows_reference - count_reference, count_reference] AS missing_r,
           [rows_current - count_current, count_current] AS missing_c
    FROM joined
)
SELECT column_name, kind, type_reference, type_current, rows_reference, rows_current,
       count_reference, count_current,
       CASE WHEN rows_reference > 0
            THEN CAST(rows_reference - count_reference AS DOUBLE) / rows_reference ELSE 0.0 END
           AS null_fraction_reference,
       CASE WHEN rows_current > 0
            THEN CAST(rows_current - count_current AS DOUBLE) / rows_current ELSE 0.0 END
           AS null_fraction_current,
       CASE WHEN ref_counts IS NOT NULL
            THEN CASE kind WHEN 'numeric' THEN 'ks' ELSE 'chi2' END END AS test,
       ks_statistic,
       CASE WHEN kind = 'categorical' AND ref_counts IS NOT NULL
            THEN sentinel_chi2_of(ref_counts, cur_counts) END AS chi2_statistic,
       CASE WHEN kind = 'categorical' AND ref_counts IS NOT NULL
            THEN sentinel_chi2_dof_of(ref_counts, cur_counts) END AS chi2_dof,
       sentinel_psi_of(p, q) AS psi,
       sentinel_js_of(p, q) AS js_distance,
       sentinel_hellinger_of(p, q) AS hellinger,
       sentinel_linf_of(p, q) AS linf,
       -- missingness: chi-square test of [missing, present] counts of the two sides
       CASE WHEN rows_reference > 0 AND rows_current > 0
            THEN sentinel_chi2_of(missing_r, missing_c) ELSE 0.0 END AS missing_statistic,
       CASE WHEN rows_reference > 0 AND rows_current > 0
            THEN sentinel_chi2_dof_of(missing_r, missing_c) ELSE 0 END AS missing_dof,
       bin_edges, categories, ref_counts AS reference_counts, cur_counts AS current_counts,
       new_categories, missing_categories, ordinal
FROM measured;

-- p-values (NULL unless the Python functions are registered), Benjamini-Hochberg adjustment
-- over all compared columns, and compare()'s verdict rule (sentinel_sql/drift.py, decide):
-- a column drifts when [adjusted p < alpha] AND/OR [PSI >= psi_threshold] (decision), or when
-- its share of missing values moved by >= null_threshold with an adjusted missingness
-- p-value < alpha; a column with values on one side only drifts.
CREATE OR REPLACE TEMP MACRO sentinel_drift_verdicts(ref_table, cur_table, pick, alpha,
                                                     psi_threshold, decision,
                                                     null_threshold) AS TABLE
WITH
tested AS (
    SELECT *,
           CASE test
               WHEN 'ks' THEN sentinel_ks_p(ks_statistic, count_reference, count_current)
               WHEN 'chi2' THEN sentinel_chi2_p(chi2_statistic, chi2_dof)
           END AS p_value,
           sentinel_chi2_p(missing_statistic, missing_dof) AS missing_p_value
    FROM sentinel_drift_statistics(ref_table, cur_table, pick)
),
ranked AS (
    SELECT *,
           row_number() OVER (ORDER BY p_value ASC NULLS LAST, ordinal) AS p_rank,
           count(p_value) OVER () AS p_count,
           row_number() OVER (ORDER BY missing_p_value ASC NULLS LAST, ordinal) AS missing_rank,
           count(missing_p_value) OVER () AS missing_count
    FROM tested
),
-- BH: p_(i) * m / i for the m non-NULL p-values sorted ascending, running minimum from the
-- largest down, clipped to [0, 1] (scipy.stats.false_discovery_control)
adjusted AS (
    SELECT *,
           CASE WHEN p_value IS NOT NULL THEN least(greatest(
               min(p_value * (CAST(p_count AS DOUBLE) / CAST(p_rank AS DOUBLE)))
                   OVER (ORDER BY p_rank DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
               0.0), 1.0) END AS p_value_adjusted,
           CASE WHEN missing_p_value IS NOT NULL THEN least(greatest(
               min(missing_p_value * (CAST(missing_count AS DOUBLE) / CAST(missing_rank AS DOUBLE)))
                   OVER (ORDER BY missing_rank DESC
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
               0.0), 1.0) END AS missing_p_value_adjusted
    FROM ranked
),
decided AS (
    SELECT *,
           CASE
               WHEN NOT (CAST(alpha AS DOUBLE) > 0 AND CAST(alpha AS DOUBLE) < 1)
                   THEN error('sentinel_drift: alpha must be between 0 and 1')
               WHEN NOT (CAST(psi_threshold AS DOUBLE) >= 0)
                   THEN error('sentinel_drift: psi_threshold must be >= 0')
               WHEN NOT (CAST(null_threshold AS DOUBLE) BETWEEN 0 AND 1)
                   THEN error('sentinel_drift: null_threshold must be between 0 and 1')
               WHEN decision NOT IN ('both', 'test', 'effect')
                   THEN error('sentinel_drift: decision must be one of both, test, effect')
           END AS invalid_options,
           p_value_adjusted < CAST(alpha AS DOUBLE) AS significant,
           psi >= CAST(psi_threshold AS DOUBLE) AS large,
           missing_p_value_adjusted < CAST(alpha AS DOUBLE)
               AND abs(null_fraction_current - null_fraction_reference)
                   >= CAST(null_threshold AS DOUBLE) AS missing_moved
    FROM adjusted
),
verdicts AS (
    SELECT *,
           CASE
               WHEN invalid_options THEN NULL
               WHEN test IS NULL THEN count_reference + count_current > 0
               WHEN decision = 'both' THEN (significant AND large) OR missing_moved
               WHEN decision = 'test' THEN significant OR missing_moved
               ELSE large OR missing_moved
           END AS drifted,
           CASE
               WHEN test IS NULL AND count_reference + count_current = 0 THEN 'no values'
               WHEN test IS NULL AND count_reference = 0 THEN 'no values in reference'
               WHEN test IS NULL THEN 'no values in current'
               ELSE CASE
                   WHEN p_value IS NULL THEN printf(
                       '%s p-value needs the Python functions (sentinel_sql.register), ', test)
                   ELSE printf('%s adjusted p=%.3g (%s %s), ', test, p_value_adjusted,
                               CASE WHEN significant THEN '<' ELSE '>=' END,
                               CAST(CAST(alpha AS DOUBLE) AS VARCHAR))
               END
               || printf('PSI=%.3g (%s %.3g)', psi, CASE WHEN large THEN '>=' ELSE '<' END,
                         CAST(psi_threshold AS DOUBLE))
               || CASE WHEN missing_moved
                       THEN printf('; missing %.1f%% -> %.1f%% (adjusted p=%.3g)',
                                   null_fraction_reference * 100, null_fraction_current * 100,
                                   missing_p_value_adjusted)
                       ELSE '' END
           END AS reason
    FROM decided
)
SELECT column_name, kind, drifted, reason, test, p_value, p_value_adjusted,
       ks_statistic, chi2_statistic, chi2_dof, psi, js_distance, hellinger, linf,
       null_fraction_reference, null_fraction_current,
       missing_statistic, missing_p_value, missing_p_value_adjusted,
       count_reference, count_current, rows_reference, rows_current,
       type_reference, type_current,
       bin_edges, categories, reference_counts, current_counts,
       new_categories, missing_categories
FROM verdicts
ORDER BY ordinal;

-- The drift table of two tables, views or files: one row per column present in both with the
-- same kind, in the reference's column order.
CREATE OR REPLACE TEMP MACRO sentinel_drift(ref_table, cur_table, alpha := 0.05,
                                            psi_threshold := 0.1, decision := 'both',
                                            null_threshold := 0.05) AS TABLE
    SELECT * FROM sentinel_drift_verdicts(ref_table, cur_table, NULL, alpha, psi_threshold,
                                          decision, null_threshold);
COMMENT ON MACRO TABLE sentinel_drift IS
    'sentinel_sql: per-column drift of cur_table against ref_table, as sentinel_sql.compare';

-- The same row for one column (its p-values are their own adjusted p-values).
CREATE OR REPLACE TEMP MACRO sentinel_drift_column(ref_table, cur_table, column_name,
                                                   alpha := 0.05, psi_threshold := 0.1,
                                                   decision := 'both',
                                                   null_threshold := 0.05) AS TABLE
    SELECT * FROM sentinel_drift_verdicts(ref_table, cur_table, column_name, alpha,
                                          psi_threshold, decision, null_threshold);
COMMENT ON MACRO TABLE sentinel_drift_column IS
    'sentinel_sql: drift of one column of cur_table against ref_table, as sentinel_sql.compare';
