-- Cover of the close package: one row per facility of $period ('ALL', the system, first).
SELECT facility       AS "Facility",
       ready_to_close AS "Ready to close",
       preliminary    AS "Preliminary",
       as_of_date     AS "As of date",
       built_by_run   AS "Built by run"
FROM report.close_runs
WHERE period = $period
ORDER BY facility <> 'ALL', facility
