-- UNKNOWN_VISIT: a clinical or charge record whose visit number is not known from ADT.
-- Keys: facility, visit, CDM code, service date. Thresholds: none. Owner: patient access.
SELECT facility, department_code, cost_center, natural_account, visit_number, cdm_code,
       item_or_ndc, service_date, service_date AS scope_date,
       expected_qty, posted_qty AS actual_qty, NULL AS expected_amount,
       posted_amount AS actual_amount,
       CASE WHEN posted_amount > 0 THEN posted_amount END AS amount_impact,
       format('Visit {} at {} is not known from ADT, yet it has {} for code {} on {}.',
              visit_number, facility,
              CASE WHEN posted_qty <> 0 AND expected_qty > 0 THEN 'documentation and charges'
                   WHEN posted_qty <> 0 THEN 'charges' ELSE 'documentation' END,
              COALESCE(cdm_code, item_or_ndc), strftime(service_date, '%Y-%m-%d')) AS detail,
       NULL AS source_refs,  -- the key's records: fill_charge_refs.sql
       concat_ws('|', facility, visit_number, COALESCE(cdm_code, 'NDC:' || item_or_ndc),
                 service_date) AS business_key
FROM charge_keys
WHERE unknown_visit
