-- LATE_CHARGE: a charge line posted more than late_charge_days after its service date, or posted
-- after the account's final bill date (a rebill is needed: severity high, else low).
-- Keys: facility, visit, CDM code, service date, transaction id. Dollars: the line's amount.
-- Owner: department.
SELECT l.facility, l.department_code, NULL AS cost_center, NULL AS natural_account,
       l.visit_number, l.cdm_code, NULL AS item_or_ndc, l.service_date,
       l.service_date AS scope_date,
       NULL AS expected_qty, l.signed_quantity AS actual_qty, NULL AS expected_amount,
       l.signed_amount AS actual_amount, l.signed_amount AS amount_impact,
       CASE WHEN l.post_date > a.final_bill_date THEN 'high' ELSE 'low' END AS severity,
       CASE WHEN l.post_date > a.final_bill_date
            THEN format('Charge {} (code {}, {}) on visit {} posted {} after the final bill of {}: '
                        || 'the account needs a rebill.', l.transaction_id, l.cdm_code,
                        fmt_money(l.signed_amount), l.visit_number,
                        strftime(l.post_date, '%Y-%m-%d'), strftime(a.final_bill_date, '%Y-%m-%d'))
            ELSE format('Charge {} (code {}, {}) on visit {} posted {} days after service on {}.',
                        l.transaction_id, l.cdm_code, fmt_money(l.signed_amount), l.visit_number,
                        l.post_date - l.service_date, strftime(l.service_date, '%Y-%m-%d'))
       END AS detail,
       l.transaction_id AS source_refs,
       concat_ws('|', l.facility, l.visit_number, l.cdm_code, l.service_date, l.transaction_id)
           AS business_key
FROM asof_charge_lines l
LEFT JOIN asof_accounts a ON a.facility = l.facility AND a.visit_number = l.visit_number
WHERE l.txn_type = 'CG'
  AND l.service_date BETWEEN $window_start AND $as_of
  AND (l.post_date - l.service_date > CAST($late_charge_days AS INTEGER)
       OR l.post_date > a.final_bill_date)
