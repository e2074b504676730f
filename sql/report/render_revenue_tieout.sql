-- Section 2, posted charges vs GL revenue of $period by facility, cost center, account and day.
SELECT facility        AS "Facility",
       post_date       AS "Post date",
       cost_center     AS "Cost center",
       natural_account AS "Revenue account",
       posted_charges  AS "Posted charges",
       gl_revenue      AS "GL revenue",
       difference      AS "Difference"
FROM report.revenue_tieout
WHERE period = $period
ORDER BY facility <> 'ALL', facility, post_date, cost_center NULLS FIRST, natural_account NULLS FIRST
