-- HTML chart: charge lines of $period by days from service to posting (31 = more than 30), system.
SELECT lag_days, sum(lines) AS lines, sum(amount) AS amount
FROM report.charge_lag_distribution
WHERE period = $period
  AND (facility = 'ALL' OR NOT EXISTS (SELECT 1 FROM report.charge_lag_distribution a
                                       WHERE a.period = $period AND a.facility = 'ALL'))
GROUP BY lag_days
ORDER BY lag_days
