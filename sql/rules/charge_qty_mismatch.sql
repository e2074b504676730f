-- CHARGE_QTY_MISMATCH: both sides present and the documented quantity differs from the posted
-- net quantity (duplicate lines counted once). Keys: facility, visit, CDM code, service date.
-- Dollars: chargemaster price of the service date x (expected - posted). Owner: department.
SELECT facility, department_code, cost_center, natural_account, visit_number, cdm_code,
       item_or_ndc, service_date, service_date AS scope_date,
       expected_qty, posted_qty AS actual_qty,
       CAST(unit_price * expected_qty AS DECIMAL(18,2)) AS expected_amount,
       posted_amount AS actual_amount,
       CAST(unit_price * (expected_qty - posted_qty) AS DECIMAL(18,2)) AS amount_impact,
       format('Visit {} on {}: {} x code {} documented but {} charged ({} difference).',
              visit_number, strftime(service_date, '%Y-%m-%d'), fmt_qty(expected_qty), cdm_code,
              fmt_qty(posted_qty), fmt_money(unit_price * (expected_qty - posted_qty)))
           AS detail,
       NULL AS source_refs,  -- the key's records: fill_charge_refs.sql
       concat_ws('|', facility, visit_number, cdm_code, service_date) AS business_key
FROM charge_keys
WHERE expected_qty > 0 AND posted_qty > 0 AND expected_qty <> posted_qty
  AND NOT (unknown_cdm OR unknown_visit OR unmapped_department)
