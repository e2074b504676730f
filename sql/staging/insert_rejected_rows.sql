-- Quarantine the rows of a batch that failed parsing or validation (registered as `rejects`).
INSERT INTO staging.rejected_rows
    (feed, file_name, row_number, "check", "column", value, reason, run_id, loaded_at)
SELECT $feed, $file_name, row_number, "check", "column", value, reason, $run_id,
       CAST($loaded_at AS TIMESTAMP)
FROM rejects
