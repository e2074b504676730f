-- Facilities whose own feeds rejected more than the threshold share of rows on $day: each is
-- left out of the day's reconciliation while the other facilities go on.
SELECT DISTINCT facility
FROM ops.feed_status
WHERE extract_date = $day
  AND facility <> '*'
  AND rows_rejected > CAST($rejected_share AS DOUBLE) * (rows_loaded + rows_rejected)
ORDER BY facility
