-- LABOR_GL_VARIANCE: approved timecard cost (hours x rate) by facility, cost center and pay
-- period against the POSTED PAYROLL lines (debit - credit) referencing that period end
-- (PAY-<YYYYMMDD>), once the period has ended. Keys: facility, cost center, natural account,
-- period end. Threshold: gl_tolerance. Dollars: timecards - ledger. Owner: payroll.
WITH ledger AS (
    SELECT COALESCE(cc.facility, g.entity) AS facility, g.cost_center,
           CAST(strptime(substr(g.reference, 5), '%Y%m%d') AS DATE) AS period_end,
           min(g.natural_account) AS natural_account, sum(g.net_debit) AS gl_amount,
           string_agg(g.journal_id || '#' || g.line_number, ' ') AS refs
    FROM asof_gl_lines g
    LEFT JOIN asof_cost_centers cc ON cc.cost_center = g.cost_center
    WHERE g.source = 'PAYROLL' AND g.status = 'POSTED' AND regexp_matches(g.reference, '^PAY-\d{8}$')
    GROUP BY ALL
), compared AS (
    SELECT COALESCE(t.facility, l.facility) AS facility,
           COALESCE(t.cost_center, l.cost_center) AS cost_center,
           COALESCE(t.period_end, l.period_end) AS period_end,
           COALESCE(l.natural_account, u.natural_account, s.natural_account) AS natural_account,
           COALESCE(t.labor_cost, 0) AS labor_cost, COALESCE(l.gl_amount, 0) AS gl_amount, l.refs
    FROM labor_by_period t
    FULL OUTER JOIN ledger l
      ON l.facility = t.facility AND l.cost_center = t.cost_center
     AND l.period_end = t.period_end
    LEFT JOIN gl_usual_accounts s ON s.source = 'PAYROLL' AND s.cost_center IS NULL
    LEFT JOIN gl_usual_accounts u
      ON u.source = 'PAYROLL' AND u.cost_center = COALESCE(t.cost_center, l.cost_center)
)
SELECT facility, NULL AS department_code, cost_center, natural_account, NULL AS visit_number,
       NULL AS cdm_code, NULL AS item_or_ndc, period_end AS service_date,
       period_end AS scope_date, NULL AS expected_qty, NULL AS actual_qty,
       labor_cost AS expected_amount, gl_amount AS actual_amount,
       labor_cost - gl_amount AS amount_impact,
       format('Pay period ending {}: approved timecards for cost center {} cost {} but payroll '
              || 'posted {} ({} difference).', strftime(period_end, '%Y-%m-%d'), cost_center,
              fmt_money(labor_cost), fmt_money(gl_amount), fmt_money(labor_cost - gl_amount))
           AS detail,
       refs AS source_refs,
       concat_ws('|', facility, cost_center, natural_account, period_end) AS business_key
FROM compared
WHERE period_end BETWEEN $window_start AND $as_of - 1
  AND abs(labor_cost - gl_amount) > CAST($gl_tolerance AS DECIMAL(18,2))
