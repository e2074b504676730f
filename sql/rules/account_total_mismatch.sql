-- ACCOUNT_TOTAL_MISMATCH: patient accounting's total_charges (in the latest snapshot that lists the
-- account; billed accounts leave the snapshot after a while) differs from the
-- net of every posted charge line of the visit, whatever its code or department.
-- Keys: facility, visit. Threshold: amount_tolerance. Dollars: posted - billed.
-- Owner: patient accounting.
SELECT a.facility, NULL AS department_code, NULL AS cost_center, NULL AS natural_account,
       a.visit_number, NULL AS cdm_code, NULL AS item_or_ndc,
       t.first_post_date AS service_date, NULL AS scope_date,
       NULL AS expected_qty, NULL AS actual_qty,
       COALESCE(t.net_charges, 0) AS expected_amount, a.total_charges AS actual_amount,
       COALESCE(t.net_charges, 0) - a.total_charges AS amount_impact,
       format('Account {} (visit {}) shows total charges of {}, but {} is posted to the visit '
              || '({} difference).', a.account_number, a.visit_number,
              fmt_money(a.total_charges), fmt_money(COALESCE(t.net_charges, 0)),
              fmt_money(COALESCE(t.net_charges, 0) - a.total_charges)) AS detail,
       a.account_number AS source_refs,
       concat_ws('|', a.facility, a.visit_number) AS business_key
FROM asof_accounts a
LEFT JOIN visit_charge_totals t ON t.facility = a.facility AND t.visit_number = a.visit_number
WHERE abs(COALESCE(t.net_charges, 0) - a.total_charges) > CAST($amount_tolerance AS DECIMAL(18,2))
