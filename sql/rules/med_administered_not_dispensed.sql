-- MED_ADMINISTERED_NOT_DISPENSED: per visit and NDC over the stay to date, more was documented
-- as given than left the cabinets (an override, or a dose dispensed outside the cabinets).
-- Keys: facility, visit, NDC. Owner: pharmacy.
SELECT b.facility, NULL AS department_code, NULL AS cost_center, NULL AS natural_account,
       b.visit_number, NULL AS cdm_code, b.ndc AS item_or_ndc,
       b.last_admin_date AS service_date, b.last_activity AS scope_date,
       b.dispensed_net AS expected_qty, b.administered AS actual_qty,
       NULL AS expected_amount, NULL AS actual_amount, NULL AS amount_impact,
       format('Visit {}: {} unit(s) of NDC {} documented as given, but only {} left the '
              || 'cabinets (override or supply outside the cabinets?).', b.visit_number,
              fmt_qty(b.administered), b.ndc, fmt_qty(b.dispensed_net)) AS detail,
       NULL AS source_refs,  -- listed by the runner (refs = "pharmacy_key")
       concat_ws('|', b.facility, b.visit_number, b.ndc) AS business_key
FROM med_balances b
WHERE b.administered > b.dispensed_net
