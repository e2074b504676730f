-- Section 4, exception summary of $period by facility, rule and owner, largest open dollars first.
SELECT facility           AS "Facility",
       rule_id            AS "Rule",
       owner              AS "Owner",
       open_count         AS "Open",
       open_dollars       AS "Open dollars",
       age_0_3            AS "0-3 days",
       age_4_7            AS "4-7 days",
       age_8_14           AS "8-14 days",
       age_15_30          AS "15-30 days",
       age_over_30        AS ">30 days",
       opened_in_period   AS "Opened in period",
       resolved_in_period AS "Resolved in period"
FROM report.exception_summary
WHERE period = $period
ORDER BY facility <> 'ALL', facility, open_dollars DESC, rule_id, owner
