-- Temp table syn_documented: every documented item, one row each: the encounter's own code,
-- procedures, medication orders and immunizations.
CREATE OR REPLACE TEMP TABLE syn_documented AS
SELECT 'encounters.csv' AS file_name, row_number, Id AS visit_number, CODE AS code,
       syn_ts(START) AS performed_at, DESCRIPTION AS description,
       BASE_ENCOUNTER_COST AS base_cost, PATIENT AS mrn
FROM syn_encounters
UNION ALL
SELECT 'procedures.csv', row_number, ENCOUNTER, CODE, syn_ts(START), DESCRIPTION, BASE_COST, PATIENT
FROM syn_procedures
UNION ALL
SELECT 'medications.csv', row_number, ENCOUNTER, CODE, syn_ts(START), DESCRIPTION, BASE_COST, PATIENT
FROM syn_medications
UNION ALL
SELECT 'immunizations.csv', row_number, ENCOUNTER, CODE, syn_ts(DATE), DESCRIPTION, BASE_COST, PATIENT
FROM syn_immunizations
