-- Section 6, the KPIs of the periods up to $period (long form: one row per facility, KPI, period).
SELECT facility   AS "Facility",
       kpi        AS "KPI",
       unit       AS "Unit",
       kpi_period AS "Period",
       value      AS "Value"
FROM report.kpi_trend
WHERE period = $period
ORDER BY facility <> 'ALL', facility, kpi, kpi_period
