-- PRICE_MISMATCH: a charge line whose unit amount differs from the chargemaster price in effect
-- on its service date by more than amount_tolerance.
-- Keys: facility, visit, CDM code, service date, transaction id.
-- Dollars: (price - unit amount) x quantity (positive = under-charged). Owner: chargemaster.
SELECT l.facility, l.department_code, NULL AS cost_center, c.gl_revenue_account AS natural_account,
       l.visit_number, l.cdm_code, NULL AS item_or_ndc, l.service_date,
       l.service_date AS scope_date,
       l.quantity AS expected_qty, l.quantity AS actual_qty,
       CAST(c.unit_price * l.quantity AS DECIMAL(18,2)) AS expected_amount,
       l.extended_amount AS actual_amount,
       CAST((c.unit_price - COALESCE(l.unit_amount, l.extended_amount / l.quantity)) * l.quantity
            AS DECIMAL(18,2)) AS amount_impact,
       format('Charge {} (code {}) on visit {} was priced {} a unit; the chargemaster price on {} '
              || 'is {}.', l.transaction_id, l.cdm_code, l.visit_number,
              fmt_money(COALESCE(l.unit_amount, l.extended_amount / l.quantity)),
              strftime(l.service_date, '%Y-%m-%d'), fmt_money(c.unit_price)) AS detail,
       l.transaction_id AS source_refs,
       concat_ws('|', l.facility, l.visit_number, l.cdm_code, l.service_date, l.transaction_id)
           AS business_key
FROM asof_charge_lines l
JOIN asof_cdm c
  ON c.cdm_code = l.cdm_code AND c.status = 'A'
 AND l.service_date BETWEEN c.effective_from AND c.effective_to
WHERE l.txn_type = 'CG'
  AND l.service_date BETWEEN $window_start AND $as_of
  AND abs(COALESCE(l.unit_amount, l.extended_amount / l.quantity) - c.unit_price)
      > CAST($amount_tolerance AS DECIMAL(18,2))
