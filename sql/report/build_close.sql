-- Build the close package of period $period ($start .. $end) as of $as_of (the last reconciled
-- business date it reflects, <= $end). Runs after sql/recon/prepare_*.sql were run with
-- as_of = $as_of and window_start = $start, inside one transaction. Facility 'ALL' = system.

DELETE FROM report.close_checklist WHERE period = $period;
DELETE FROM report.revenue_tieout WHERE period = $period;
DELETE FROM report.revenue_cutoff WHERE period = $period;
DELETE FROM report.unbilled_accrual WHERE period = $period;
DELETE FROM report.exception_summary WHERE period = $period;
DELETE FROM report.kpis WHERE period = $period;
DELETE FROM report.kpi_trend WHERE period = $period;
DELETE FROM report.charge_lag_distribution WHERE period = $period;
DELETE FROM report.close_runs WHERE period = $period;

-- Which reconciliation each rule belongs to (for open-exception counts on the checklist).
CREATE OR REPLACE TEMP TABLE close_rule_map AS
SELECT * FROM (VALUES
    ('charge capture', 'MISSING_CHARGE'), ('charge capture', 'CHARGE_QTY_MISMATCH'),
    ('charge capture', 'UNDOCUMENTED_CHARGE'), ('charge capture', 'DUPLICATE_CHARGE'),
    ('charge capture', 'LATE_CHARGE'), ('charge capture', 'PRICE_MISMATCH'),
    ('charge capture', 'UNKNOWN_CDM'), ('charge capture', 'UNKNOWN_VISIT'),
    ('charge capture', 'CHARGE_OUTSIDE_STAY'), ('charge capture', 'UNMAPPED_DEPARTMENT'),
    ('pharmacy', 'MED_DISPENSED_NOT_ADMINISTERED'), ('pharmacy', 'MED_ADMINISTERED_NOT_DISPENSED'),
    ('pharmacy', 'WASTE_UNWITNESSED'),
    ('supplies', 'SUPPLY_NOT_RELIEVED'), ('supplies', 'SUPPLY_NOT_DOCUMENTED'),
    ('supplies', 'UNMAPPED_ITEM'),
    ('revenue to GL', 'GL_REVENUE_VARIANCE'), ('revenue to GL', 'GL_UNPOSTED_BATCH'),
    ('inventory to GL', 'GL_INVENTORY_VARIANCE'),
    ('labor to GL', 'LABOR_GL_VARIANCE'),
    ('billing subledger to charges', 'ACCOUNT_TOTAL_MISMATCH'),
    ('billing subledger to charges', 'DISCHARGED_NOT_FINAL_BILLED'),
    ('billing subledger to charges', 'ENCOUNTER_NO_ACCOUNT')
) t(reconciliation, rule_id);

-- Open exceptions of the period (service/batch date in it, or undated), per reconciliation.
CREATE OR REPLACE TEMP TABLE close_open AS
SELECT m.reconciliation, COALESCE(e.facility, 'ALL') AS facility, count(*) AS n,
       COALESCE(sum(e.amount_impact), 0) AS dollars
FROM recon.exceptions e JOIN close_rule_map m USING (rule_id)
WHERE e.status = 'open' AND (e.service_date IS NULL OR e.service_date <= $end)
  AND (e.service_date IS NULL OR e.service_date >= $start)
GROUP BY GROUPING SETS ((m.reconciliation, e.facility), (m.reconciliation));

-- The two sides of each reconciliation, per facility and for the system.
CREATE OR REPLACE TEMP TABLE close_sides AS
SELECT 'charge capture' AS reconciliation, COALESCE(facility, 'ALL') AS facility,
       'documented activity at chargemaster prices' AS side_a,
       CAST(sum(CASE WHEN NOT unknown_cdm THEN expected_qty * unit_price ELSE 0 END)
            AS DECIMAL(18,2)) AS amount_a,
       'charges posted for it' AS side_b, CAST(sum(posted_amount) AS DECIMAL(18,2)) AS amount_b
FROM charge_keys WHERE service_date BETWEEN $start AND $as_of
GROUP BY GROUPING SETS ((facility), ())
UNION ALL
SELECT 'pharmacy', COALESCE(facility, 'ALL'), 'units dispensed (net of returns and waste)',
       CAST(sum(dispensed_net) AS DECIMAL(18,2)), 'units administered',
       CAST(sum(administered) AS DECIMAL(18,2))
FROM med_balances WHERE last_activity BETWEEN $start AND $as_of
GROUP BY GROUPING SETS ((facility), ())
UNION ALL
SELECT 'supplies', COALESCE(facility, 'ALL'), 'units documented in cases',
       CAST(sum(documented_qty) AS DECIMAL(18,2)), 'units issued by inventory',
       CAST(sum(issued_qty) AS DECIMAL(18,2))
FROM recon.supply_matches WHERE activity_date BETWEEN $start AND $as_of
GROUP BY GROUPING SETS ((facility), ())
UNION ALL
SELECT 'revenue to GL', COALESCE(r.facility, 'ALL'),
       'charges posted (mapped to the ledger) of posted batches',
       CAST(sum(r.posted_amount) AS DECIMAL(18,2)), 'GL revenue interface (posted batches)',
       CAST(COALESCE(sum(g.gl_amount), 0) AS DECIMAL(18,2))
FROM (SELECT r.facility, r.batch_date, sum(r.posted_amount) AS posted_amount
      FROM revenue_by_batch r
      JOIN revenue_batches b ON b.facility = r.facility AND b.batch_date = r.batch_date AND b.posted
      WHERE r.batch_date BETWEEN $start AND $as_of GROUP BY ALL) r
LEFT JOIN (SELECT b.facility, b.batch_date, sum(g.net_credit) AS gl_amount
           FROM asof_gl_lines g JOIN revenue_batches b
             ON g.reference = b.facility || '-' || strftime(b.batch_date, '%Y%m%d')
           WHERE g.source = 'REVENUE_INTERFACE' AND b.posted GROUP BY ALL) g
  ON g.facility = r.facility AND g.batch_date = r.batch_date
GROUP BY GROUPING SETS ((r.facility), ())
UNION ALL
SELECT 'inventory to GL', COALESCE(facility, 'ALL'), 'inventory issued at cost',
       CAST(sum(issued) AS DECIMAL(18,2)), 'GL inventory lines', CAST(sum(gl) AS DECIMAL(18,2))
FROM (
    SELECT facility, CAST(sum(quantity * unit_cost) AS DECIMAL(18,2)) AS issued, 0 AS gl
    FROM asof_inventory
    WHERE txn_type = 'ISSUE' AND unit_cost IS NOT NULL AND txn_date BETWEEN $start AND $as_of
    GROUP BY facility
    UNION ALL
    SELECT COALESCE(cc.facility, g.entity), 0, sum(g.net_debit)
    FROM asof_gl_lines g LEFT JOIN asof_cost_centers cc ON cc.cost_center = g.cost_center
    WHERE g.source = 'INVENTORY' AND g.status = 'POSTED'
      AND g.accounting_date BETWEEN $start AND $as_of
    GROUP BY 1
)
GROUP BY GROUPING SETS ((facility), ())
UNION ALL
SELECT 'labor to GL', COALESCE(facility, 'ALL'), 'approved timecards (hours x rate)',
       CAST(sum(labor) AS DECIMAL(18,2)), 'GL payroll lines', CAST(sum(gl) AS DECIMAL(18,2))
FROM (
    SELECT facility, labor_cost AS labor, 0 AS gl FROM labor_by_period
    WHERE period_end BETWEEN $start AND $as_of - 1
    UNION ALL
    SELECT COALESCE(cc.facility, g.entity), 0, g.net_debit
    FROM asof_gl_lines g LEFT JOIN asof_cost_centers cc ON cc.cost_center = g.cost_center
    WHERE g.source = 'PAYROLL' AND g.status = 'POSTED' AND regexp_matches(g.reference, '^PAY-\d{8}$')
      AND CAST(strptime(substr(g.reference, 5), '%Y%m%d') AS DATE) BETWEEN $start AND $as_of - 1
)
GROUP BY GROUPING SETS ((facility), ())
UNION ALL
SELECT 'billing subledger to charges', COALESCE(a.facility, 'ALL'),
       'account totals (patient accounting)', CAST(sum(a.total_charges) AS DECIMAL(18,2)),
       'net posted charges of those visits', CAST(sum(COALESCE(t.net_charges, 0)) AS DECIMAL(18,2))
FROM asof_accounts a
LEFT JOIN visit_charge_totals t ON t.facility = a.facility AND t.visit_number = a.visit_number
WHERE a.in_latest_snapshot
GROUP BY GROUPING SETS ((a.facility), ());

-- Blocking checks of the period: no feed day with rejected rows above the threshold, among the
-- facility's own feeds and the system-wide ones ('*'); 'ALL' looks at every feed.
CREATE OR REPLACE TEMP TABLE close_checks AS
WITH days AS (
    SELECT facility, rows_rejected <= CAST($rejected_share AS DOUBLE) * (rows_loaded + rows_rejected)
               AS ok
    FROM ops.feed_status WHERE extract_date BETWEEN $start AND $as_of
), facilities AS (
    SELECT DISTINCT facility FROM days WHERE facility <> '*'
)
SELECT f.facility, COALESCE(bool_and(d.ok), true) AS passed
FROM facilities f LEFT JOIN days d ON d.facility IN (f.facility, '*')
GROUP BY f.facility
UNION ALL
SELECT 'ALL', COALESCE(bool_and(ok), true) FROM days;

INSERT INTO report.close_checklist
SELECT $period, s.facility, s.reconciliation, s.side_a, s.amount_a, s.side_b, s.amount_b,
       s.difference, CAST($gl_tolerance AS DECIMAL(18,2)),
       COALESCE(o.n, 0), COALESCE(o.dollars, 0),
       COALESCE(c.passed, true),
       CASE WHEN abs(s.difference) > CAST($gl_tolerance AS DECIMAL(18,2)) THEN 'variance'
            WHEN COALESCE(o.n, 0) > 0 THEN 'open exceptions'
            ELSE 'tied' END,
       abs(s.difference) <= CAST($gl_tolerance AS DECIMAL(18,2))
FROM (SELECT *, COALESCE(amount_a, 0) - COALESCE(amount_b, 0) AS difference FROM close_sides) s
LEFT JOIN close_open o ON o.reconciliation = s.reconciliation AND o.facility = s.facility
LEFT JOIN close_checks c ON c.facility = s.facility;

INSERT INTO report.revenue_tieout
WITH ledger AS (
    SELECT b.facility, b.batch_date, g.cost_center, g.natural_account, sum(g.net_credit) AS gl
    FROM asof_gl_lines g JOIN revenue_batches b
      ON g.reference = b.facility || '-' || strftime(b.batch_date, '%Y%m%d')
    WHERE g.source = 'REVENUE_INTERFACE' AND b.posted AND b.batch_date BETWEEN $start AND $as_of
    GROUP BY ALL
), charges AS (
    SELECT * FROM revenue_by_batch WHERE batch_date BETWEEN $start AND $as_of
), joined AS (
    SELECT COALESCE(c.facility, l.facility) AS facility,
           COALESCE(c.cost_center, l.cost_center) AS cost_center,
           COALESCE(c.natural_account, l.natural_account) AS natural_account,
           COALESCE(c.batch_date, l.batch_date) AS post_date,
           COALESCE(c.posted_amount, 0) AS posted, COALESCE(l.gl, 0) AS gl
    FROM charges c FULL OUTER JOIN ledger l
      ON l.facility = c.facility AND l.batch_date = c.batch_date
     AND l.cost_center = c.cost_center AND l.natural_account = c.natural_account
)
SELECT $period, COALESCE(facility, 'ALL'), cost_center, natural_account, post_date,
       sum(posted), sum(gl), sum(posted) - sum(gl)
FROM joined
GROUP BY GROUPING SETS ((facility, cost_center, natural_account, post_date), (post_date));

INSERT INTO report.revenue_cutoff
WITH lines AS (
    SELECT * FROM canonical.charge_lines
    QUALIFY row_number() OVER (PARTITION BY facility, transaction_id
                               ORDER BY extract_date, file_name, row_number) = 1
), tagged AS (
    SELECT facility, signed_amount,
           CASE WHEN service_date BETWEEN $start AND $end AND post_date > $end
                    THEN 'served_in_period_posted_after'
                WHEN service_date < $start AND post_date BETWEEN $start AND $end
                    THEN 'served_before_posted_in_period' END AS direction
    FROM lines
), directions AS (
    SELECT * FROM (VALUES ('served_in_period_posted_after'), ('served_before_posted_in_period'))
        d(direction)
), facilities AS (
    SELECT DISTINCT facility FROM lines
)
SELECT $period, COALESCE(f.facility, 'ALL'), d.direction, count(t.signed_amount),
       COALESCE(sum(t.signed_amount), 0)
FROM facilities f CROSS JOIN directions d
LEFT JOIN tagged t ON t.facility = f.facility AND t.direction = d.direction
GROUP BY GROUPING SETS ((f.facility, d.direction), (d.direction));

INSERT INTO report.unbilled_accrual
WITH visits AS (
    SELECT v.facility, v.visit_number, COALESCE(v.patient_class, 'U') AS patient_class,
           CASE WHEN v.discharge_date IS NULL OR v.discharge_date > $end THEN 'in house'
                ELSE 'discharged not final billed' END AS state,
           v.discharge_date, a.final_bill_date
    FROM asof_visits v
    LEFT JOIN asof_accounts a ON a.facility = v.facility AND a.visit_number = v.visit_number
    WHERE NOT v.cancelled AND v.admit_date <= $end
), unbilled AS (
    SELECT * FROM visits
    WHERE state = 'in house' OR final_bill_date IS NULL OR final_bill_date > $end
), gross AS (
    SELECT facility, visit_number, sum(signed_amount) AS amount
    FROM asof_charge_lines WHERE post_date <= $end GROUP BY ALL
)
SELECT $period, COALESCE(u.facility, 'ALL'), COALESCE(u.patient_class, 'ALL'), u.state,
       count(*), COALESCE(sum(g.amount), 0)
FROM unbilled u LEFT JOIN gross g USING (facility, visit_number)
GROUP BY GROUPING SETS ((u.facility, u.patient_class, u.state), (u.state));

INSERT INTO report.exception_summary
WITH e AS (
    SELECT *, CAST($as_of AS DATE) - CAST(first_seen_run AS DATE) AS age
    FROM recon.exceptions
    WHERE CAST(first_seen_run AS DATE) <= $as_of
)
SELECT $period, COALESCE(facility, 'ALL'), rule_id, owner,
       count(*) FILTER (WHERE status = 'open'),
       COALESCE(sum(amount_impact) FILTER (WHERE status = 'open'), 0),
       count(*) FILTER (WHERE status = 'open' AND age <= 3),
       count(*) FILTER (WHERE status = 'open' AND age BETWEEN 4 AND 7),
       count(*) FILTER (WHERE status = 'open' AND age BETWEEN 8 AND 14),
       count(*) FILTER (WHERE status = 'open' AND age BETWEEN 15 AND 30),
       count(*) FILTER (WHERE status = 'open' AND age > 30),
       count(*) FILTER (WHERE CAST(first_seen_run AS DATE) BETWEEN $start AND $end),
       count(*) FILTER (WHERE resolved_at BETWEEN $start AND $end)
FROM e
GROUP BY GROUPING SETS ((facility, rule_id, owner), (rule_id, owner));

INSERT INTO report.charge_lag_distribution
SELECT $period, COALESCE(facility, 'ALL'), least(post_date - service_date, 31), count(*),
       sum(signed_amount)
FROM asof_charge_lines
WHERE txn_type = 'CG' AND post_date BETWEEN $start AND $as_of
GROUP BY GROUPING SETS ((facility, least(post_date - service_date, 31)),
                        (least(post_date - service_date, 31)));
