-- HTML chart: posted charges minus GL revenue of $period per posting day, system.
SELECT post_date, sum(difference) AS difference
FROM report.revenue_tieout
WHERE period = $period
  AND (facility = 'ALL' OR NOT EXISTS (SELECT 1 FROM report.revenue_tieout a
                                       WHERE a.period = $period AND a.facility = 'ALL'))
GROUP BY post_date
ORDER BY post_date
