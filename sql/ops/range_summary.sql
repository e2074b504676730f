-- Per feed over a range of business dates: rows loaded and rejected, files rejected, days missing.
SELECT s.feed,
       sum(s.rows_loaded)                                   AS rows_loaded,
       sum(s.rows_rejected)                                 AS rows_rejected,
       count(*) FILTER (WHERE s.status = 'missing')         AS missing,
       count(*) FILTER (WHERE s.status = 'incomplete')      AS incomplete,
       count(*) FILTER (WHERE s.status = 'rejected')        AS rejected_files
FROM ops.feed_status s
WHERE s.extract_date BETWEEN $start AND $end
GROUP BY s.feed
ORDER BY s.feed
