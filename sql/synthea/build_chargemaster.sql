-- staging.chargemaster derived from the export: one row per code seen on either side, priced at
-- the latest non-zero charged unit amount, else the documented base cost (else 0.00), effective
-- from the code's first service date, status A, revenue account $revenue_account.
INSERT INTO staging.chargemaster BY NAME
WITH observed AS (
    SELECT PROCEDURECODE AS code, CAST(UNITAMOUNT AS DECIMAL(18,2)) AS price, NOTES AS description,
           service_date AS day, 1 AS source_rank, 'claims_transactions.csv' AS file_name,
           row_number
    FROM syn_charge_lines
    UNION ALL
    SELECT code, TRY_CAST(base_cost AS DECIMAL(18,2)), description, CAST(performed_at AS DATE),
           2, file_name, row_number
    FROM syn_documented
), firsts AS (
    SELECT code, min(day) AS effective_from FROM observed GROUP BY code
)
SELECT o.file_name, o.row_number, $extract_date AS extract_date, $run_id AS load_run_id,
       o.code AS cdm_code, o.description, $department AS department_code,
       COALESCE(o.price, 0) AS unit_price, $revenue_account AS gl_revenue_account,
       f.effective_from, 'A' AS status
FROM observed o JOIN firsts f USING (code)
QUALIFY row_number() OVER (
    PARTITION BY o.code
    ORDER BY COALESCE(o.price, 0) > 0 DESC, o.source_rank, o.day DESC, o.file_name DESC,
             o.row_number DESC) = 1
