-- Rows of {table} whose "{column}" cannot be loaded: count and the first three row numbers.
-- $required: an empty value is bad; $kind says what a present value must be:
--   text (anything), ts (a Synthea timestamp or date), money (a decimal with at most 2 places),
--   qty (a positive number).
SELECT count(*), list(row_number ORDER BY row_number)[1:3]
FROM {table}
WHERE CASE
    WHEN "{column}" IS NULL THEN $required
    WHEN $kind = 'ts'    THEN syn_ts("{column}") IS NULL
    WHEN $kind = 'money' THEN NOT regexp_full_match("{column}", '-?[0-9]+(\.[0-9][0-9]?)?')
    WHEN $kind = 'qty'   THEN COALESCE(TRY_CAST("{column}" AS DECIMAL(18,3)) <= 0, true)
    ELSE false
END
