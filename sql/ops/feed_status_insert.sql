INSERT INTO ops.feed_status
    (extract_date, feed, facility, status, files, rows_loaded, rows_rejected)
VALUES ($extract_date, $feed, $facility, $status, $files, $rows_loaded, $rows_rejected)
