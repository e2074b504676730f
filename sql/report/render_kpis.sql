-- Section 5, KPIs of $period with numerator, denominator and source (percent KPIs are fractions).
SELECT facility    AS "Facility",
       kpi         AS "KPI",
       value       AS "Value",
       unit        AS "Unit",
       numerator   AS "Numerator",
       denominator AS "Denominator",
       source      AS "Source"
FROM report.kpis
WHERE period = $period
ORDER BY facility <> 'ALL', facility, kpi
