-- HTML chart: open exceptions of $period per rule and aging bucket, for the system (facility 'ALL';
-- summed over the facilities when the table has no 'ALL' rows).
SELECT rule_id,
       sum(age_0_3)     AS age_0_3,
       sum(age_4_7)     AS age_4_7,
       sum(age_8_14)    AS age_8_14,
       sum(age_15_30)   AS age_15_30,
       sum(age_over_30) AS age_over_30
FROM report.exception_summary s
WHERE period = $period
  AND (facility = 'ALL' OR NOT EXISTS (SELECT 1 FROM report.exception_summary a
                                       WHERE a.period = $period AND a.facility = 'ALL'))
GROUP BY rule_id
ORDER BY sum(open_count) DESC, rule_id
