-- UNMAPPED_DEPARTMENT: an EHR department code, used by charges or documentation in the window,
-- with no cost center in the department map on the service date. It stays in scope while its
-- latest use is inside the window.
-- Keys: facility, source system, department code. Thresholds: none. Owner: integration.
SELECT facility, department_code, NULL AS cost_center, NULL AS natural_account,
       NULL AS visit_number, NULL AS cdm_code, NULL AS item_or_ndc,
       min(service_date) AS service_date, max(service_date) AS scope_date,
       NULL AS expected_qty, NULL AS actual_qty, NULL AS expected_amount,
       sum(posted_amount) AS actual_amount,
       sum(CASE WHEN posted_amount > 0 THEN posted_amount END) AS amount_impact,
       format('EHR department {} at {} has no cost center in the department map; {} charge key(s) '
              || 'since {} cannot reach the ledger.', department_code, facility, count(*),
              strftime(min(service_date), '%Y-%m-%d')) AS detail,
       string_agg(DISTINCT visit_number, ' ' ORDER BY visit_number) AS source_refs,
       concat_ws('|', facility, 'EHR', department_code) AS business_key
FROM charge_keys
WHERE unmapped_department AND department_code IS NOT NULL
GROUP BY facility, department_code
