-- DISCHARGED_NOT_FINAL_BILLED: a discharged visit whose account has no final bill date
-- dnfb_alert_days after discharge. Keys: facility, visit. Dollars: the unbilled charges.
-- Owner: patient accounting.
SELECT v.facility, NULL AS department_code, NULL AS cost_center, NULL AS natural_account,
       v.visit_number, NULL AS cdm_code, NULL AS item_or_ndc, v.discharge_date AS service_date,
       NULL AS scope_date, NULL AS expected_qty, NULL AS actual_qty, NULL AS expected_amount,
       a.total_charges AS actual_amount, COALESCE(t.net_charges, a.total_charges) AS amount_impact,
       format('Visit {} was discharged on {} and is still not final billed {} days later ({} '
              || 'unbilled, account status {}).', v.visit_number,
              strftime(v.discharge_date, '%Y-%m-%d'), $as_of - v.discharge_date,
              fmt_money(COALESCE(t.net_charges, a.total_charges)), a.account_status) AS detail,
       a.account_number AS source_refs,
       concat_ws('|', v.facility, v.visit_number) AS business_key
FROM asof_visits v
JOIN asof_accounts a ON a.facility = v.facility AND a.visit_number = v.visit_number
LEFT JOIN visit_charge_totals t ON t.facility = v.facility AND t.visit_number = v.visit_number
WHERE NOT v.cancelled AND v.discharge_date IS NOT NULL
  AND $as_of - v.discharge_date > CAST($dnfb_alert_days AS INTEGER)
  AND a.final_bill_date IS NULL
