-- CHARGE_OUTSIDE_STAY: a charge whose service date is before the admit or after the discharge,
-- or a charge on a visit whose admission was cancelled (A11).
-- Keys: facility, visit, CDM code, service date. Dollars: posted amount. Owner: patient access.
SELECT k.facility, k.department_code, k.cost_center, k.natural_account, k.visit_number,
       k.cdm_code, k.item_or_ndc, k.service_date, k.service_date AS scope_date,
       k.expected_qty, k.posted_qty AS actual_qty, NULL AS expected_amount,
       k.posted_amount AS actual_amount, k.posted_amount AS amount_impact,
       CASE WHEN v.cancelled
            THEN format('Code {} was charged to visit {} on {}, but the visit''s admission was '
                        || 'cancelled (A11).', k.cdm_code, k.visit_number,
                        strftime(k.service_date, '%Y-%m-%d'))
            WHEN k.service_date < v.admit_date
            THEN format('Code {} was charged to visit {} on {}, before the admission on {}.',
                        k.cdm_code, k.visit_number, strftime(k.service_date, '%Y-%m-%d'),
                        strftime(v.admit_date, '%Y-%m-%d'))
            ELSE format('Code {} was charged to visit {} on {}, after the discharge on {}.',
                        k.cdm_code, k.visit_number, strftime(k.service_date, '%Y-%m-%d'),
                        strftime(v.discharge_date, '%Y-%m-%d'))
       END AS detail,
       NULL AS source_refs,  -- the key's records: fill_charge_refs.sql
       concat_ws('|', k.facility, k.visit_number, k.cdm_code, k.service_date) AS business_key
FROM charge_keys k
JOIN asof_visits v ON v.facility = k.facility AND v.visit_number = k.visit_number
WHERE k.posted_lines > 0
  AND NOT (k.unknown_cdm OR k.unknown_visit OR k.unmapped_department)
  AND (v.cancelled OR k.service_date < v.admit_date OR k.service_date > v.discharge_date)
