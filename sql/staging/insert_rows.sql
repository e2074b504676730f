-- Append one validated batch (registered as `batch`) to a staging table.
-- {table} comes from the feed registry (reconcile/feeds.py), never from configuration or input.
-- INSERT ... BY NAME casts the validated text columns into DATE / TIMESTAMP / DECIMAL.
INSERT INTO staging.{table} BY NAME
SELECT batch.*,
       $file_name                  AS file_name,
       CAST($extract_date AS DATE) AS extract_date,
       $run_id                     AS load_run_id
FROM batch
