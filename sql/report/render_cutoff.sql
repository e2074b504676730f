-- Section 2b, revenue cut-off of $period: lines served and posted on either side of the period end.
SELECT facility  AS "Facility",
       direction AS "Direction",
       lines     AS "Lines",
       amount    AS "Amount"
FROM report.revenue_cutoff
WHERE period = $period
ORDER BY facility <> 'ALL', facility, direction
