-- Documented items (syn_documented) -> staging.procedures: status completed, CDM code = the
-- Synthea code, resource id = <file stem>:<row number>, facility of the item's encounter.
INSERT INTO staging.procedures BY NAME
SELECT d.file_name, d.row_number, $extract_date AS extract_date, $run_id AS load_run_id,
       replace(d.file_name, '.csv', '') || ':' || d.row_number AS resource_id,
       'completed' AS status, d.code AS cdm_code, d.mrn, d.visit_number, d.performed_at,
       $department AS department_code,
       COALESCE(f.facility, $unknown_facility) AS facility
FROM syn_documented d
LEFT JOIN syn_encounters e ON e.Id = d.visit_number
LEFT JOIN syn_facilities f ON f.org_id = e.ORGANIZATION
