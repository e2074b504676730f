-- UNKNOWN_CDM: a charge or an expected charge whose CDM code is not in the chargemaster, or is
-- inactive or outside its effective range on the service date (an NDC with no CDM code counts).
-- Keys: facility, visit, CDM code, service date. Thresholds: none. Owner: chargemaster.
SELECT facility, department_code, cost_center, NULL AS natural_account, visit_number, cdm_code,
       item_or_ndc, service_date, service_date AS scope_date,
       expected_qty, posted_qty AS actual_qty, NULL AS expected_amount,
       posted_amount AS actual_amount,
       CASE WHEN posted_amount > 0 THEN posted_amount END AS amount_impact,
       format('{} {} on visit {} ({}) is not an active chargemaster code on that date, so it '
              || 'cannot be priced or posted to the ledger.',
              CASE WHEN cdm_code IS NULL THEN 'NDC' ELSE 'CDM code' END,
              COALESCE(cdm_code, item_or_ndc), visit_number, strftime(service_date, '%Y-%m-%d'))
           AS detail,
       NULL AS source_refs,  -- the key's records: fill_charge_refs.sql
       concat_ws('|', facility, visit_number, COALESCE(cdm_code, 'NDC:' || item_or_ndc),
                 service_date) AS business_key
FROM charge_keys
WHERE unknown_cdm
