-- Pharmacy match evidence of the decided days (matches_00_final_days.sql): per visit and NDC over
-- the stay to date, cabinet net dispensed against administered, with the records behind both.
CREATE OR REPLACE TEMP TABLE new_pharmacy_matches AS
SELECT facility, visit_number, ndc, CAST(dispensed_net AS DECIMAL(18,3)) AS dispensed_net,
       CAST(administered AS DECIMAL(18,3)) AS administered, last_activity,
       CASE WHEN dispensed_net = administered THEN 'matched'
            WHEN dispensed_net > administered THEN 'dispensed_not_administered'
            ELSE 'administered_not_dispensed' END AS match_status,
       refs
FROM med_balances
WHERE last_activity IN (SELECT day FROM final_for_this_run);

DELETE FROM recon.pharmacy_matches
WHERE rowid IN (
    SELECT m.rowid FROM recon.pharmacy_matches m
    ANTI JOIN new_pharmacy_matches n
      ON n.facility = m.facility AND n.visit_number = m.visit_number AND n.ndc = m.ndc
     AND n.dispensed_net = m.dispensed_net AND n.administered = m.administered
     AND n.last_activity = m.last_activity AND n.match_status = m.match_status
     AND n.refs IS NOT DISTINCT FROM m.refs
    WHERE m.last_activity IN (SELECT day FROM final_for_this_run));

INSERT INTO recon.pharmacy_matches
SELECT $as_of, n.*
FROM new_pharmacy_matches n
ANTI JOIN (SELECT * FROM recon.pharmacy_matches
           WHERE last_activity IN (SELECT day FROM final_for_this_run)) m
  ON m.last_activity = n.last_activity AND m.facility = n.facility
 AND m.visit_number = n.visit_number AND m.ndc = n.ndc;
