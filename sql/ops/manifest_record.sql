INSERT OR REPLACE INTO ops.file_manifest
    (file_name, feed, facility, extract_date, size_bytes, sha256, control_sha256, rows_declared, rows_loaded,
     rows_rejected, outcome, reason, run_id, recorded_at)
VALUES ($file_name, $feed, $facility, CAST($extract_date AS DATE), $size_bytes, $sha256, $control_sha256,
        $rows_declared, $rows_loaded, $rows_rejected, $outcome, $reason, $run_id,
        CAST($recorded_at AS TIMESTAMP))
