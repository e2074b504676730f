-- Charge-capture match evidence of the decided days (matches_00_final_days.sql): one row per
-- charge key with both sides and how they compared, and the records behind each key.
CREATE OR REPLACE TEMP TABLE new_charge_matches AS
SELECT facility, visit_number, cdm_code, service_date,
       CAST(expected_qty AS DECIMAL(18,3)) AS expected_qty,
       CAST(posted_qty AS DECIMAL(18,3)) AS posted_qty,
       CAST(posted_amount AS DECIMAL(18,2)) AS posted_amount,
       CASE WHEN unknown_cdm OR unknown_visit OR unmapped_department THEN 'master_data'
            WHEN expected_qty > 0 AND posted_qty = expected_qty THEN 'matched'
            WHEN expected_qty > 0 AND posted_qty <= 0
                 AND $as_of > service_date + CAST($charge_window_days AS INTEGER) THEN 'missing'
            WHEN expected_qty > 0 AND posted_qty <= 0 THEN 'pending'
            WHEN expected_qty = 0 AND posted_qty > 0 THEN 'undocumented'
            WHEN expected_qty = 0 AND posted_qty <= 0 THEN 'reversed'
            ELSE 'quantity_mismatch' END AS match_status,
       records_fingerprint
FROM charge_keys
WHERE service_date IN (SELECT day FROM final_for_this_run);

-- Stored keys of the decided days against tonight's, in one pass: a stored row that no longer
-- holds (a value or the records behind it changed, or the key is gone) is removed; a key that is
-- new or changed is written.
CREATE OR REPLACE TEMP TABLE charge_match_diff AS
SELECT m.row_id,
       COALESCE(n.facility, m.facility)         AS facility,
       COALESCE(n.visit_number, m.visit_number) AS visit_number,
       COALESCE(n.cdm_code, m.cdm_code)         AS cdm_code,
       COALESCE(n.service_date, m.service_date) AS service_date,
       n.facility IS NOT NULL                   AS write_new
FROM (SELECT rowid AS row_id, * FROM recon.charge_matches
      WHERE service_date IN (SELECT day FROM final_for_this_run)) m
FULL OUTER JOIN new_charge_matches n
  ON n.facility = m.facility AND n.visit_number = m.visit_number
 AND n.cdm_code IS NOT DISTINCT FROM m.cdm_code AND n.service_date = m.service_date
WHERE m.row_id IS NULL OR n.facility IS NULL
   OR n.expected_qty IS DISTINCT FROM m.expected_qty OR n.posted_qty IS DISTINCT FROM m.posted_qty
   OR n.posted_amount IS DISTINCT FROM m.posted_amount
   OR n.match_status IS DISTINCT FROM m.match_status
   OR n.records_fingerprint IS DISTINCT FROM m.records_fingerprint;

DELETE FROM recon.charge_matches
WHERE rowid IN (SELECT row_id FROM charge_match_diff WHERE row_id IS NOT NULL);

INSERT INTO recon.charge_matches BY NAME
SELECT $as_of AS as_of_date, n.*
FROM new_charge_matches n
SEMI JOIN charge_match_diff d
  ON d.write_new AND d.facility = n.facility AND d.visit_number = n.visit_number
 AND d.cdm_code IS NOT DISTINCT FROM n.cdm_code AND d.service_date = n.service_date;

-- The records behind a key can only have changed where the key's fingerprint did, so the records
-- (one row per record, no string building) are compared for those keys alone, not for the
-- millions of lines of the window.
CREATE OR REPLACE TEMP TABLE charge_line_keys AS
SELECT DISTINCT facility, visit_number, cdm_code, service_date FROM charge_match_diff;

CREATE OR REPLACE TEMP TABLE new_charge_match_lines AS
SELECT e.facility, e.visit_number, e.cdm_code, e.service_date, 'documented' AS side,
       e.source_ref AS record_ref
FROM asof_expected_lines e
SEMI JOIN charge_line_keys k
  ON k.facility = e.facility AND k.visit_number = e.visit_number
 AND k.cdm_code IS NOT DISTINCT FROM e.cdm_code AND k.service_date = e.service_date
UNION ALL
SELECT l.facility, l.visit_number, l.cdm_code, l.service_date, 'posted', l.transaction_id
FROM asof_charge_lines l
SEMI JOIN charge_line_keys k
  ON k.facility = l.facility AND k.visit_number = l.visit_number
 AND k.cdm_code IS NOT DISTINCT FROM l.cdm_code AND k.service_date = l.service_date;

CREATE OR REPLACE TEMP TABLE old_charge_match_lines AS
SELECT m.rowid AS row_id, m.*
FROM recon.charge_match_lines m
SEMI JOIN charge_line_keys k
  ON k.facility = m.facility AND k.visit_number = m.visit_number
 AND k.cdm_code IS NOT DISTINCT FROM m.cdm_code AND k.service_date = m.service_date
-- the keys are of the decided days: read only those days of the table, not its history
WHERE m.service_date IN (SELECT day FROM final_for_this_run);

DELETE FROM recon.charge_match_lines
WHERE rowid IN (
    SELECT m.row_id FROM old_charge_match_lines m
    ANTI JOIN new_charge_match_lines n
      ON n.record_ref = m.record_ref AND n.side = m.side AND n.facility = m.facility
     AND n.visit_number = m.visit_number AND n.cdm_code IS NOT DISTINCT FROM m.cdm_code
     AND n.service_date = m.service_date);

INSERT INTO recon.charge_match_lines
SELECT $as_of, n.*
FROM new_charge_match_lines n
ANTI JOIN old_charge_match_lines m
  ON m.record_ref = n.record_ref AND m.side = n.side AND m.facility = n.facility
 AND m.visit_number = n.visit_number AND m.cdm_code IS NOT DISTINCT FROM n.cdm_code
 AND m.service_date = n.service_date;
