-- The records behind each charge key that a rule of evaluation $as_of reported (rules with
-- refs = "charge_key" in the catalogue leave source_refs NULL): documentation records
-- (Procedure/..., MedicationAdministration/..., CaseSupply/...) then charge transaction ids,
-- each list sorted. Listing them only for reported keys keeps the nightly pass over every key
-- free of string building.
CREATE OR REPLACE TEMP TABLE reported_charge_keys AS
SELECT DISTINCT facility, visit_number, cdm_code, service_date
FROM recon.findings
WHERE as_of_date = $as_of AND source_refs IS NULL
  AND list_contains(string_split($rules, ','), rule_id);

CREATE OR REPLACE TEMP TABLE reported_charge_refs AS
WITH expected AS (
    SELECT e.facility, e.visit_number, e.cdm_code, e.service_date,
           array_to_string(list_sort(list(e.source_ref)), ' ') AS refs
    FROM asof_expected_lines e
    SEMI JOIN reported_charge_keys k
      ON k.facility = e.facility AND k.visit_number = e.visit_number
     AND k.cdm_code IS NOT DISTINCT FROM e.cdm_code AND k.service_date = e.service_date
    GROUP BY ALL
), posted AS (
    SELECT l.facility, l.visit_number, l.cdm_code, l.service_date,
           array_to_string(list_sort(list(l.transaction_id)), ' ') AS refs
    FROM asof_charge_lines l
    SEMI JOIN reported_charge_keys k
      ON k.facility = l.facility AND k.visit_number = l.visit_number
     AND k.cdm_code IS NOT DISTINCT FROM l.cdm_code AND k.service_date = l.service_date
    GROUP BY ALL
)
SELECT k.facility, k.visit_number, k.cdm_code, k.service_date,
       NULLIF(concat_ws(' ', e.refs, p.refs), '') AS refs
FROM reported_charge_keys k
LEFT JOIN expected e
       ON e.facility = k.facility AND e.visit_number = k.visit_number
      AND e.cdm_code IS NOT DISTINCT FROM k.cdm_code AND e.service_date = k.service_date
LEFT JOIN posted p
       ON p.facility = k.facility AND p.visit_number = k.visit_number
      AND p.cdm_code IS NOT DISTINCT FROM k.cdm_code AND p.service_date = k.service_date;

UPDATE recon.findings AS f
SET source_refs = r.refs
FROM reported_charge_refs r
WHERE f.as_of_date = $as_of AND f.source_refs IS NULL
  AND list_contains(string_split($rules, ','), f.rule_id)
  AND r.facility = f.facility AND r.visit_number = f.visit_number
  AND r.cdm_code IS NOT DISTINCT FROM f.cdm_code AND r.service_date = f.service_date;
