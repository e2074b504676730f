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
            ELSE 'quantity_mismatch' END AS match_status
FROM charge_keys
WHERE service_date IN (SELECT day FROM final_for_this_run);

DELETE FROM recon.charge_matches
WHERE rowid IN (
    SELECT m.rowid FROM recon.charge_matches m
    ANTI JOIN new_charge_matches n
      ON n.facility = m.facility AND n.visit_number = m.visit_number
     AND n.cdm_code IS NOT DISTINCT FROM m.cdm_code AND n.service_date = m.service_date
     AND n.expected_qty = m.expected_qty AND n.posted_qty = m.posted_qty
     AND n.posted_amount = m.posted_amount AND n.match_status = m.match_status
    WHERE m.service_date IN (SELECT day FROM final_for_this_run));

INSERT INTO recon.charge_matches
SELECT $as_of, n.*
FROM new_charge_matches n
ANTI JOIN (SELECT * FROM recon.charge_matches
           WHERE service_date IN (SELECT day FROM final_for_this_run)) m
  ON m.service_date = n.service_date AND m.facility = n.facility
 AND m.visit_number = n.visit_number AND m.cdm_code IS NOT DISTINCT FROM n.cdm_code;

-- Which records make up each side of each key: one row per record, no string building.
CREATE OR REPLACE TEMP TABLE new_charge_match_lines AS
SELECT facility, visit_number, cdm_code, service_date, 'documented' AS side,
       source_ref AS record_ref
FROM asof_expected_lines
WHERE service_date IN (SELECT day FROM final_for_this_run)
UNION ALL
SELECT facility, visit_number, cdm_code, service_date, 'posted', transaction_id
FROM asof_charge_lines
WHERE service_date IN (SELECT day FROM final_for_this_run);

DELETE FROM recon.charge_match_lines
WHERE rowid IN (
    SELECT m.rowid FROM recon.charge_match_lines m
    ANTI JOIN new_charge_match_lines n
      ON n.record_ref = m.record_ref AND n.side = m.side AND n.facility = m.facility
     AND n.visit_number = m.visit_number AND n.cdm_code IS NOT DISTINCT FROM m.cdm_code
     AND n.service_date = m.service_date
    WHERE m.service_date IN (SELECT day FROM final_for_this_run));

INSERT INTO recon.charge_match_lines
SELECT $as_of, n.*
FROM new_charge_match_lines n
ANTI JOIN (SELECT * FROM recon.charge_match_lines
           WHERE service_date IN (SELECT day FROM final_for_this_run)) m
  ON m.record_ref = n.record_ref AND m.side = n.side AND m.facility = n.facility
 AND m.visit_number = n.visit_number AND m.cdm_code IS NOT DISTINCT FROM n.cdm_code
 AND m.service_date = n.service_date;
