-- One line of progress for a business date: feeds, files, rows, and what the rules found.
SELECT
    (SELECT count(*) FILTER (WHERE status IN ('arrived', 'late')) FROM ops.feed_status
      WHERE extract_date = $day)                                                AS feeds_arrived,
    (SELECT count(*) FILTER (WHERE status = 'missing') FROM ops.feed_status
      WHERE extract_date = $day)                                                AS feeds_missing,
    (SELECT COALESCE(sum(rows_loaded), 0) FROM ops.feed_status WHERE extract_date = $day)
                                                                                AS rows_loaded,
    (SELECT COALESCE(sum(rows_rejected), 0) FROM ops.feed_status WHERE extract_date = $day)
                                                                                AS rows_rejected,
    (SELECT count(*) FROM staging.rejected_files WHERE extract_date = $day)    AS files_rejected,
    (SELECT count(*) FROM recon.findings WHERE as_of_date = $day)              AS findings
