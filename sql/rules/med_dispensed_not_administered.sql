-- MED_DISPENSED_NOT_ADMINISTERED: per visit and NDC over the stay to date, cabinet vends -
-- returns - waste exceed what was administered, once the visit is discharged or the difference
-- is more than a day old. Keys: facility, visit, NDC. Dollars: the surplus at the
-- chargemaster price of the NDC (no drug cost feed exists). Owner: pharmacy.
SELECT b.facility, NULL AS department_code, NULL AS cost_center, NULL AS natural_account,
       b.visit_number, c.cdm_code, b.ndc AS item_or_ndc, b.last_cabinet_date AS service_date,
       b.last_activity AS scope_date,
       b.dispensed_net AS expected_qty, b.administered AS actual_qty,
       NULL AS expected_amount, NULL AS actual_amount,
       CAST((b.dispensed_net - b.administered) * c.unit_price AS DECIMAL(18,2)) AS amount_impact,
       format('Visit {}: {} unit(s) of NDC {} left the cabinets (net of returns and waste) but '
              || 'only {} were documented as given.', b.visit_number, fmt_qty(b.dispensed_net),
              b.ndc, fmt_qty(b.administered)) AS detail,
       NULL AS source_refs,  -- listed by the runner (refs = "pharmacy_key")
       concat_ws('|', b.facility, b.visit_number, b.ndc) AS business_key
FROM med_balances b
LEFT JOIN asof_visits v ON v.facility = b.facility AND v.visit_number = b.visit_number
LEFT JOIN (SELECT ndc, min(cdm_code) AS cdm_code, min(unit_price) AS unit_price
           FROM asof_cdm WHERE ndc IS NOT NULL AND status = 'A' GROUP BY ndc) c
       ON c.ndc = b.ndc
WHERE b.dispensed_net > b.administered
  AND (v.discharge_date <= $as_of OR $as_of - b.last_cabinet_date > 1)
