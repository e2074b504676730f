-- SUPPLY_NOT_RELIEVED: an item documented in a case with no inventory ISSUE for that case and
-- item (stock never relieved, cost never recorded). Keys: facility, case, item.
-- Dollars: item cost x quantity. Owner: supply chain.
SELECT s.facility, s.department_code, NULL AS cost_center, NULL AS natural_account,
       s.visit_number, NULL AS cdm_code, s.item_id AS item_or_ndc,
       min(s.service_date) AS service_date, min(s.service_date) AS scope_date,
       sum(s.quantity) AS expected_qty, 0 AS actual_qty, NULL AS expected_amount,
       NULL AS actual_amount,
       CAST(sum(s.quantity) * any_value(i.unit_cost) AS DECIMAL(18,2)) AS amount_impact,
       format('Case {} (visit {}) documents {} x item {} but inventory issued none for it.',
              s.case_id, s.visit_number, fmt_qty(sum(s.quantity)), s.item_id) AS detail,
       'CaseSupply/' || s.case_id || '/' || s.item_id AS source_refs,
       concat_ws('|', s.facility, s.case_id, s.item_id) AS business_key
FROM canonical.case_supply_lines s
JOIN asof_item_master i
  ON i.item_id = s.item_id AND s.service_date BETWEEN i.valid_from AND i.valid_to
WHERE s.extract_date <= $as_of AND s.service_date BETWEEN $window_start AND $as_of
  AND NOT EXISTS (SELECT 1 FROM asof_inventory t
                  WHERE t.txn_type = 'ISSUE' AND t.case_id = s.case_id AND t.item_id = s.item_id)
GROUP BY s.facility, s.department_code, s.visit_number, s.case_id, s.item_id
