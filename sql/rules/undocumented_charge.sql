-- UNDOCUMENTED_CHARGE: a posted charge (net quantity > 0) with no documented activity behind
-- it on the same visit, code and service date (compliance risk).
-- Keys: facility, visit, CDM code, service date. Dollars: posted amount. Owner: compliance.
SELECT facility, department_code, cost_center, natural_account, visit_number, cdm_code,
       item_or_ndc, service_date, service_date AS scope_date,
       expected_qty, posted_qty AS actual_qty, NULL AS expected_amount,
       posted_amount AS actual_amount, posted_amount AS amount_impact,
       format('Code {} was charged to visit {} for {} ({}) but no procedure, administration or '
              || 'supply is documented for it.', cdm_code, visit_number,
              strftime(service_date, '%Y-%m-%d'), fmt_money(posted_amount)) AS detail,
       NULL AS source_refs,  -- the key's records: fill_charge_refs.sql
       concat_ws('|', facility, visit_number, cdm_code, service_date) AS business_key
FROM charge_keys
WHERE posted_qty > 0 AND expected_qty = 0
  AND NOT (unknown_cdm OR unknown_visit OR unmapped_department)
