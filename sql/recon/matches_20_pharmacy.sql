-- Pharmacy match evidence of the decided days (matches_00_final_days.sql): per visit and NDC over
-- the stay to date, cabinet net dispensed against administered, with the records behind both.
-- Also lists those records in the findings of the pharmacy rules (refs = "pharmacy_key" in the
-- catalogue: they leave source_refs NULL), so the records are gathered once, for the pairs that
-- need them.
CREATE OR REPLACE TEMP TABLE new_pharmacy_matches AS
SELECT facility, visit_number, ndc, CAST(dispensed_net AS DECIMAL(18,3)) AS dispensed_net,
       CAST(administered AS DECIMAL(18,3)) AS administered, last_activity,
       CASE WHEN dispensed_net = administered THEN 'matched'
            WHEN dispensed_net > administered THEN 'dispensed_not_administered'
            ELSE 'administered_not_dispensed' END AS match_status,
       records_fingerprint
FROM med_balances
WHERE last_activity IN (SELECT day FROM final_for_this_run);

DELETE FROM recon.pharmacy_matches
WHERE rowid IN (
    SELECT m.rowid FROM recon.pharmacy_matches m
    ANTI JOIN new_pharmacy_matches n
      ON n.facility = m.facility AND n.visit_number = m.visit_number AND n.ndc = m.ndc
     AND n.dispensed_net = m.dispensed_net AND n.administered = m.administered
     AND n.last_activity = m.last_activity AND n.match_status = m.match_status
     AND n.records_fingerprint = m.records_fingerprint
    WHERE m.last_activity IN (SELECT day FROM final_for_this_run));

CREATE OR REPLACE TEMP TABLE pharmacy_match_additions AS
SELECT n.*
FROM new_pharmacy_matches n
ANTI JOIN (SELECT * FROM recon.pharmacy_matches
           WHERE last_activity IN (SELECT day FROM final_for_this_run)) m
  ON m.last_activity = n.last_activity AND m.facility = n.facility
 AND m.visit_number = n.visit_number AND m.ndc = n.ndc;

-- The records of the pairs to write and of the pairs the pharmacy rules reported tonight:
-- cabinet transaction ids, then administration ids, each list sorted.
CREATE OR REPLACE TEMP TABLE pharmacy_refs AS
WITH pairs AS (
    SELECT facility, visit_number, ndc FROM pharmacy_match_additions
    UNION
    SELECT facility, visit_number, item_or_ndc FROM recon.findings
    WHERE as_of_date = $as_of AND source_refs IS NULL
      AND list_contains(string_split($pharmacy_refs_rules, ','), rule_id)
), listed AS (
    SELECT r.facility, r.visit_number, r.ndc,
           string_agg(r.record_ref, ' ' ORDER BY r.record_ref) FILTER (WHERE r.cabinet) AS cab,
           string_agg(r.record_ref, ' ' ORDER BY r.record_ref) FILTER (WHERE NOT r.cabinet) AS adm
    FROM med_records r
    SEMI JOIN pairs p
      ON p.facility = r.facility AND p.visit_number = r.visit_number
     AND p.ndc IS NOT DISTINCT FROM r.ndc
    GROUP BY ALL
)
SELECT facility, visit_number, ndc, concat_ws(' ', cab, adm) AS refs FROM listed;

INSERT INTO recon.pharmacy_matches BY NAME
SELECT $as_of AS as_of_date, a.*, r.refs
FROM pharmacy_match_additions a
LEFT JOIN pharmacy_refs r
       ON r.facility = a.facility AND r.visit_number = a.visit_number AND r.ndc = a.ndc;

UPDATE recon.findings AS f
SET source_refs = r.refs
FROM pharmacy_refs r
WHERE f.as_of_date = $as_of AND f.source_refs IS NULL
  AND list_contains(string_split($pharmacy_refs_rules, ','), f.rule_id)
  AND r.facility = f.facility AND r.visit_number = f.visit_number AND r.ndc = f.item_or_ndc;
