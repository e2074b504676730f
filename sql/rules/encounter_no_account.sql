-- ENCOUNTER_NO_ACCOUNT: a visit known from ADT that has posted charges but appears in no
-- billing-account snapshot. Keys: facility, visit. Dollars: its net charges.
-- Owner: patient access.
SELECT v.facility, NULL AS department_code, NULL AS cost_center, NULL AS natural_account,
       v.visit_number, NULL AS cdm_code, NULL AS item_or_ndc, t.first_post_date AS service_date,
       NULL AS scope_date, NULL AS expected_qty, NULL AS actual_qty, NULL AS expected_amount,
       t.net_charges AS actual_amount, t.net_charges AS amount_impact,
       format('Visit {} has {} charge line(s) ({}) since {} but no billing account.',
              v.visit_number, t.lines, fmt_money(t.net_charges),
              strftime(t.first_post_date, '%Y-%m-%d')) AS detail,
       NULL AS source_refs,
       concat_ws('|', v.facility, v.visit_number) AS business_key
FROM asof_visits v
JOIN visit_charge_totals t ON t.facility = v.facility AND t.visit_number = v.visit_number
WHERE NOT EXISTS (SELECT 1 FROM asof_accounts a
                  WHERE a.facility = v.facility AND a.visit_number = v.visit_number)
