-- GL_INVENTORY_VARIANCE: inventory ISSUE cost (quantity x unit cost) by facility, cost center
-- and issue date against the POSTED INVENTORY lines of the ledger (debit - credit) for that cost
-- center and accounting date. Keys: facility, cost center, natural account, date.
-- Threshold: gl_tolerance. Dollars: issued cost - ledger. Owner: general ledger.
WITH issued AS (
    SELECT facility, department_code AS cost_center, txn_date AS day,
           CAST(sum(quantity * unit_cost) AS DECIMAL(18,2)) AS issued_cost
    FROM asof_inventory
    WHERE txn_type = 'ISSUE' AND department_code IS NOT NULL AND unit_cost IS NOT NULL
      AND txn_date BETWEEN $window_start AND $as_of
    GROUP BY ALL
), ledger AS (
    SELECT COALESCE(cc.facility, g.entity) AS facility, g.cost_center, g.accounting_date AS day,
           min(g.natural_account) AS natural_account, sum(g.net_debit) AS gl_amount,
           string_agg(g.reference, ' ' ORDER BY g.reference) AS refs
    FROM asof_gl_lines g
    LEFT JOIN asof_cost_centers cc ON cc.cost_center = g.cost_center
    WHERE g.source = 'INVENTORY' AND g.status = 'POSTED'
      AND g.accounting_date BETWEEN $window_start AND $as_of
    GROUP BY ALL
), compared AS (
    SELECT COALESCE(i.facility, l.facility) AS facility,
           COALESCE(i.cost_center, l.cost_center) AS cost_center,
           COALESCE(i.day, l.day) AS day,
           COALESCE(l.natural_account, u.natural_account, s.natural_account) AS natural_account,
           COALESCE(i.issued_cost, 0) AS issued_cost, COALESCE(l.gl_amount, 0) AS gl_amount,
           l.refs
    FROM issued i
    FULL OUTER JOIN ledger l
      ON l.facility = i.facility AND l.cost_center = i.cost_center AND l.day = i.day
    LEFT JOIN gl_usual_accounts s ON s.source = 'INVENTORY' AND s.cost_center IS NULL
    LEFT JOIN gl_usual_accounts u
      ON u.source = 'INVENTORY' AND u.cost_center = COALESCE(i.cost_center, l.cost_center)
)
SELECT facility, NULL AS department_code, cost_center, natural_account, NULL AS visit_number,
       NULL AS cdm_code, NULL AS item_or_ndc, day AS service_date, day AS scope_date,
       NULL AS expected_qty, NULL AS actual_qty, issued_cost AS expected_amount,
       gl_amount AS actual_amount, issued_cost - gl_amount AS amount_impact,
       format('Inventory issued to cost center {} on {} cost {} but the ledger shows {} '
              || '({} difference).', cost_center, strftime(day, '%Y-%m-%d'),
              fmt_money(issued_cost), fmt_money(gl_amount), fmt_money(issued_cost - gl_amount))
           AS detail,
       refs AS source_refs,
       concat_ws('|', facility, cost_center, natural_account, day) AS business_key
FROM compared
WHERE abs(issued_cost - gl_amount) > CAST($gl_tolerance AS DECIMAL(18,2))
