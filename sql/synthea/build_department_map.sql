-- staging.department_map derived from the export: the one department $department has cost center
-- $cost_center at every organization of organizations.csv (one row per facility).
INSERT INTO staging.department_map BY NAME
SELECT 'organizations.csv' AS file_name, o.row_number, $extract_date AS extract_date,
       $run_id AS load_run_id, 'EHR' AS source_system,
       $department AS source_department_code, f.facility, $cost_center AS cost_center
FROM syn_organizations o JOIN syn_facilities f ON f.org_id = o.Id
QUALIFY row_number() OVER (PARTITION BY f.facility ORDER BY o.row_number) = 1
