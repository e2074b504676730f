-- Charge lines (syn_charge_lines) -> staging.charges as CG transactions: service and post date =
-- the date of FROMDATE, amounts DECIMAL(18,2), modifiers MODIFIER1~MODIFIER2. Message type
-- DFT^P03 (a posted charge), as the charge feed's messages carry.
INSERT INTO staging.charges BY NAME
SELECT 'claims_transactions.csv' AS file_name, row_number, $extract_date AS extract_date,
       $run_id AS load_run_id, COALESCE(CLAIMID, ID) AS message_control_id,
       'DFT^P03' AS message_type, facility,
       APPOINTMENTID AS visit_number, PATIENTID AS mrn, ID AS transaction_id,
       service_date, service_date AS post_date, 'CG' AS txn_type,
       PROCEDURECODE AS cdm_code, NOTES AS cdm_description,
       CAST(UNITS AS DECIMAL(18,3)) AS quantity,
       CAST(AMOUNT AS DECIMAL(18,2)) AS extended_amount,
       CAST(UNITAMOUNT AS DECIMAL(18,2)) AS unit_amount,
       $department AS department_code,
       NULLIF(concat_ws('~', MODIFIER1, MODIFIER2), '') AS modifiers
FROM syn_charge_lines
