-- MISSING_CHARGE: documented activity (procedure, drug administration, chargeable supply) with
-- no posted charge once the charge window has passed ($as_of > service date + window).
-- Keys: facility, visit, CDM code, service date. Thresholds: charge_window_days.
-- Dollars: chargemaster price of the service date x expected quantity. Owner: department.
SELECT facility, department_code, cost_center, natural_account, visit_number, cdm_code,
       item_or_ndc, service_date, service_date AS scope_date,
       expected_qty, posted_qty AS actual_qty,
       CAST(unit_price * expected_qty AS DECIMAL(18,2)) AS expected_amount,
       posted_amount AS actual_amount,
       CAST(unit_price * expected_qty AS DECIMAL(18,2)) AS amount_impact,
       format('{} x code {} documented for visit {} on {} has not been charged {} days later '
              || '({} not captured).', fmt_qty(expected_qty), cdm_code, visit_number,
              strftime(service_date, '%Y-%m-%d'), $as_of - service_date,
              fmt_money(unit_price * expected_qty)) AS detail,
       NULL AS source_refs,  -- the key's records: fill_charge_refs.sql
       concat_ws('|', facility, visit_number, cdm_code, service_date) AS business_key
FROM charge_keys
WHERE expected_qty > 0 AND posted_qty <= 0
  AND $as_of > service_date + CAST($charge_window_days AS INTEGER)
  AND NOT (unknown_cdm OR unknown_visit OR unmapped_department)
