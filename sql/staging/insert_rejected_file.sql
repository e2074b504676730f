INSERT INTO staging.rejected_files (feed, file_name, sha256, extract_date, reason, run_id, rejected_at)
VALUES ($feed, $file_name, $sha256, CAST($extract_date AS DATE), $reason, $run_id,
        CAST($rejected_at AS TIMESTAMP))
