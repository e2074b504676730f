-- KPIs of period $period (after build_close.sql, same temp tables), with numerator,
-- denominator and source; percentages are stored as fractions (unit 'percent').

INSERT INTO report.kpis
WITH lines AS (
    SELECT facility, post_date - service_date AS lag, signed_amount AS amount
    FROM asof_charge_lines
    WHERE txn_type = 'CG' AND post_date BETWEEN $start AND $as_of
), lag AS (
    SELECT COALESCE(facility, 'ALL') AS facility, count(*) AS n, sum(lag) AS lag_sum,
           median(lag) AS lag_median, quantile_cont(lag, 0.9) AS lag_p90,
           count(*) FILTER (WHERE lag <= CAST($late_charge_days AS INTEGER)) AS within,
           sum(amount) AS gross,
           COALESCE(sum(amount) FILTER (WHERE lag > CAST($late_charge_days AS INTEGER)), 0) AS late
    FROM lines GROUP BY GROUPING SETS ((facility), ())
), missed AS (
    SELECT COALESCE(facility, 'ALL') AS facility, sum(amount_impact) AS dollars, count(*) AS n
    FROM recon.exceptions
    WHERE rule_id = 'MISSING_CHARGE' AND status = 'open' AND service_date BETWEEN $start AND $end
    GROUP BY GROUPING SETS ((facility), ())
), visit_match AS (
    SELECT facility, visit_number, bool_and(match_status = 'matched') AS all_matched
    FROM recon.charge_matches
    WHERE service_date BETWEEN $start AND $as_of AND expected_qty > 0
    GROUP BY ALL
), recon_rate AS (
    SELECT COALESCE(facility, 'ALL') AS facility, count(*) FILTER (WHERE all_matched) AS ok,
           count(*) AS n
    FROM visit_match GROUP BY GROUPING SETS ((facility), ())
), dnfb AS (
    SELECT facility, sum(gross_charges) AS dollars FROM report.unbilled_accrual
    WHERE period = $period AND state = 'discharged not final billed'
      AND (facility = 'ALL') = (patient_class = 'ALL')
    GROUP BY facility
), daily AS (
    -- average daily gross revenue over the 3 months ending on $as_of (the days with data)
    SELECT COALESCE(facility, 'ALL') AS facility, sum(signed_amount) AS gross,
           CAST($as_of AS DATE) - greatest(min(post_date), CAST($as_of AS DATE) - INTERVAL 3 MONTH)::DATE
             + 1 AS days
    FROM asof_charge_lines
    WHERE post_date > CAST($as_of AS DATE) - INTERVAL 3 MONTH AND post_date <= $as_of
    GROUP BY GROUPING SETS ((facility), ())
), supply AS (
    SELECT COALESCE(facility, 'ALL') AS facility, sum(actual_qty) AS qty,
           sum(amount_impact) AS dollars
    FROM recon.exceptions
    WHERE rule_id = 'SUPPLY_NOT_DOCUMENTED' AND status = 'open'
      AND service_date BETWEEN $start AND $end
    GROUP BY GROUPING SETS ((facility), ())
), pharmacy AS (
    SELECT COALESCE(facility, 'ALL') AS facility, sum(expected_qty - actual_qty) AS units
    FROM recon.exceptions
    WHERE rule_id = 'MED_DISPENSED_NOT_ADMINISTERED' AND status = 'open'
      AND service_date BETWEEN $start AND $end
    GROUP BY GROUPING SETS ((facility), ())
), facilities AS (
    SELECT facility FROM lag UNION SELECT facility FROM daily UNION SELECT 'ALL'
)
SELECT $period, f.facility, k.kpi, k.value, k.numerator, k.denominator, k.unit, k.source
FROM facilities f
LEFT JOIN lag l USING (facility)
LEFT JOIN missed m USING (facility)
LEFT JOIN recon_rate r USING (facility)
LEFT JOIN dnfb d USING (facility)
LEFT JOIN daily y USING (facility)
LEFT JOIN supply s USING (facility)
LEFT JOIN pharmacy p USING (facility)
CROSS JOIN LATERAL (VALUES
    ('charge_lag_mean_days', l.lag_sum / nullif(l.n, 0), l.lag_sum, l.n, 'days',
     'charge lines (CG) posted in the period: post date - service date'),
    ('charge_lag_median_days', l.lag_median, NULL, l.n, 'days',
     'charge lines (CG) posted in the period'),
    ('charge_lag_p90_days', l.lag_p90, NULL, l.n, 'days', 'charge lines (CG) posted in the period'),
    ('charges_within_late_days_pct', l.within / nullif(l.n, 0), l.within, l.n, 'percent',
     'charge lines posted within late_charge_days of service'),
    ('late_charges_pct_of_gross', l.late / nullif(l.gross, 0), l.late, l.gross, 'percent',
     'amount of charge lines posted after late_charge_days / gross charges posted'),
    ('missed_charge_dollars', COALESCE(m.dollars, 0), COALESCE(m.dollars, 0), NULL, 'dollars',
     'open MISSING_CHARGE exceptions with a service date in the period'),
    ('charge_reconciliation_rate', r.ok / nullif(r.n, 0), r.ok, r.n, 'percent',
     'visits whose documented charges all matched (recon.charge_matches)'),
    ('days_in_dnfb', COALESCE(d.dollars, 0) / nullif(y.gross / nullif(y.days, 0), 0),
     COALESCE(d.dollars, 0), y.gross / nullif(y.days, 0), 'days',
     'DNFB gross charges at period end / average daily gross charges of the last 3 months'),
    ('supply_lost_charge_units', COALESCE(s.qty, 0), COALESCE(s.qty, 0), NULL, 'units',
     'open SUPPLY_NOT_DOCUMENTED exceptions in the period'),
    ('supply_lost_charge_dollars', COALESCE(s.dollars, 0), COALESCE(s.dollars, 0), NULL, 'dollars',
     'open SUPPLY_NOT_DOCUMENTED exceptions in the period'),
    ('pharmacy_dispensed_not_administered_units', COALESCE(p.units, 0), COALESCE(p.units, 0), NULL,
     'units', 'open MED_DISPENSED_NOT_ADMINISTERED exceptions in the period')
) k(kpi, value, numerator, denominator, unit, source);

INSERT INTO report.kpi_trend
SELECT $period, facility, period, kpi, value, unit
FROM report.kpis
WHERE period BETWEEN strftime(CAST($start AS DATE) - INTERVAL 11 MONTH, '%Y-%m') AND $period;

INSERT INTO report.close_runs
SELECT $period, facility, CAST($preliminary AS BOOLEAN),
       bool_and(row_ok AND blocking_checks_passed), $as_of, $run_id
FROM report.close_checklist WHERE period = $period
GROUP BY facility;
