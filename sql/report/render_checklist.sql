-- Section 1, close checklist of $period: one row per facility and reconciliation.
SELECT facility               AS "Facility",
       reconciliation         AS "Reconciliation",
       status                 AS "Status",
       side_a                 AS "Side A",
       amount_a               AS "Amount A",
       side_b                 AS "Side B",
       amount_b               AS "Amount B",
       difference             AS "Difference",
       threshold              AS "Threshold",
       open_exceptions        AS "Open exceptions",
       open_dollars           AS "Open dollars",
       blocking_checks_passed AS "Blocking checks passed",
       row_ok                 AS "Row OK"
FROM report.close_checklist
WHERE period = $period
ORDER BY facility <> 'ALL', facility, reconciliation
