-- SUPPLY_NOT_DOCUMENTED: an inventory ISSUE to a case for an item the case documentation does
-- not list (a supply used but not charged, or issued to the wrong case).
-- Keys: facility, case, item. Dollars: the chargemaster price of a chargeable item, else its
-- cost. Owner: supply chain.
SELECT t.facility, t.department_code, t.department_code AS cost_center, NULL AS natural_account,
       t.visit_number, any_value(i.cdm_code) AS cdm_code, t.item_id AS item_or_ndc,
       min(t.txn_date) AS service_date, min(t.txn_date) AS scope_date,
       NULL AS expected_qty, sum(t.quantity) AS actual_qty, NULL AS expected_amount,
       CAST(sum(t.quantity * t.unit_cost) AS DECIMAL(18,2)) AS actual_amount,
       CAST(sum(t.quantity) * COALESCE(any_value(c.unit_price), any_value(t.unit_cost))
            AS DECIMAL(18,2)) AS amount_impact,
       format('Inventory issued {} x item {} to case {} (visit {}), but the case documentation '
              || 'does not list it.', fmt_qty(sum(t.quantity)), t.item_id, t.case_id,
              t.visit_number) AS detail,
       string_agg('Inventory/' || t.txn_id, ' ' ORDER BY t.txn_id) AS source_refs,
       concat_ws('|', t.facility, t.case_id, t.item_id) AS business_key
FROM asof_inventory t
JOIN asof_item_master i
  ON i.item_id = t.item_id AND t.txn_date BETWEEN i.valid_from AND i.valid_to
LEFT JOIN asof_cdm c
  ON i.chargeable = 'Y' AND c.cdm_code = i.cdm_code AND c.status = 'A'
 AND t.txn_date BETWEEN c.effective_from AND c.effective_to
WHERE t.txn_type = 'ISSUE' AND t.case_id IS NOT NULL
  AND t.txn_date BETWEEN $window_start AND $as_of
  AND NOT EXISTS (SELECT 1 FROM canonical.case_supply_lines s
                  WHERE s.extract_date <= $as_of AND s.case_id = t.case_id
                    AND s.item_id = t.item_id)
GROUP BY t.facility, t.department_code, t.visit_number, t.case_id, t.item_id
