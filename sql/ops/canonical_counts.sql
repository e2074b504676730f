-- Rows in each canonical view, for asset metadata.
SELECT 'visit_events' AS view, count(*) AS n FROM canonical.visit_events
UNION ALL SELECT 'charge_lines', count(*) FROM canonical.charge_lines
UNION ALL SELECT 'procedure_versions', count(*) FROM canonical.procedure_versions
UNION ALL SELECT 'med_administration_versions', count(*) FROM canonical.med_administration_versions
UNION ALL SELECT 'case_supply_lines', count(*) FROM canonical.case_supply_lines
UNION ALL SELECT 'chargemaster_rows', count(*) FROM canonical.chargemaster_rows
UNION ALL SELECT 'department_map_history', count(*) FROM canonical.department_map_history
UNION ALL SELECT 'item_master_history', count(*) FROM canonical.item_master_history
