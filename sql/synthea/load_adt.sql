-- encounters.csv -> staging.adt_events: an A01 (admit = START) per encounter and, when STOP is
-- given, an A03 (discharge = STOP). Patient class from ENCOUNTERCLASS (inpatient -> I,
-- emergency -> E, else O); hospital service = the encounter class.
INSERT INTO staging.adt_events BY NAME
SELECT 'encounters.csv' AS file_name, e.row_number, $extract_date AS extract_date,
       $run_id AS load_run_id,
       'SYNTHEA-' || e.Id || '-' || ev.event_type AS message_control_id,
       'ADT' AS message_type, ev.event_type,
       CASE ev.event_type WHEN 'A01' THEN syn_ts(e.START) ELSE syn_ts(e.STOP) END AS message_at,
       CASE ev.event_type WHEN 'A01' THEN syn_ts(e.START) ELSE syn_ts(e.STOP) END AS event_at,
       e.PATIENT AS mrn,
       CASE lower(e.ENCOUNTERCLASS) WHEN 'inpatient' THEN 'I' WHEN 'emergency' THEN 'E'
            ELSE 'O' END AS patient_class,
       COALESCE(f.facility, $unknown_facility) AS facility,
       e.ENCOUNTERCLASS AS hospital_service, e.Id AS visit_number,
       syn_ts(e.START) AS admit_at,
       CASE ev.event_type WHEN 'A03' THEN syn_ts(e.STOP) END AS discharge_at
FROM syn_encounters e
CROSS JOIN (VALUES ('A01'), ('A03')) AS ev(event_type)
LEFT JOIN syn_facilities f ON f.org_id = e.ORGANIZATION
WHERE ev.event_type = 'A01' OR e.STOP IS NOT NULL
