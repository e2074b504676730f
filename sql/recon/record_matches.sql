-- Record the match evidence of evaluation $as_of for the keys it is the latest evaluation of
-- (no later evaluation's window covers them), so rerunning an old day rewrites nothing that a
-- later day decided. Runs after the rules, inside the same transaction.

CREATE OR REPLACE TEMP TABLE final_for_this_run AS
SELECT d::DATE AS day
FROM range($window_start, $as_of + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
WHERE NOT EXISTS (SELECT 1 FROM recon.rule_runs r
                  WHERE r.as_of_date > $as_of
                    AND d::DATE BETWEEN r.window_start AND r.window_end);

DELETE FROM recon.charge_matches
WHERE service_date IN (SELECT day FROM final_for_this_run);
INSERT INTO recon.charge_matches
SELECT $as_of, facility, visit_number, cdm_code, service_date, expected_qty, posted_qty,
       posted_amount,
       CASE WHEN unknown_cdm OR unknown_visit OR unmapped_department THEN 'master_data'
            WHEN expected_qty > 0 AND posted_qty = expected_qty THEN 'matched'
            WHEN expected_qty > 0 AND posted_qty <= 0
                 AND $as_of > service_date + CAST($charge_window_days AS INTEGER) THEN 'missing'
            WHEN expected_qty > 0 AND posted_qty <= 0 THEN 'pending'
            WHEN expected_qty = 0 AND posted_qty > 0 THEN 'undocumented'
            WHEN expected_qty = 0 AND posted_qty <= 0 THEN 'reversed'
            ELSE 'quantity_mismatch' END
FROM charge_keys
WHERE service_date IN (SELECT day FROM final_for_this_run);

-- Which records make up each side of each key: one row per record, no string building.
DELETE FROM recon.charge_match_lines
WHERE service_date IN (SELECT day FROM final_for_this_run);
INSERT INTO recon.charge_match_lines
SELECT $as_of, facility, visit_number, cdm_code, service_date, 'documented', source_ref
FROM asof_expected_lines
WHERE service_date IN (SELECT day FROM final_for_this_run)
UNION ALL
SELECT $as_of, facility, visit_number, cdm_code, service_date, 'posted', transaction_id
FROM asof_charge_lines
WHERE service_date IN (SELECT day FROM final_for_this_run);

DELETE FROM recon.pharmacy_matches
WHERE last_activity IN (SELECT day FROM final_for_this_run);
INSERT INTO recon.pharmacy_matches
SELECT $as_of, facility, visit_number, ndc, dispensed_net, administered, last_activity,
       CASE WHEN dispensed_net = administered THEN 'matched'
            WHEN dispensed_net > administered THEN 'dispensed_not_administered'
            ELSE 'administered_not_dispensed' END,
       refs
FROM med_balances
WHERE last_activity IN (SELECT day FROM final_for_this_run);

DELETE FROM recon.supply_matches
WHERE activity_date IN (SELECT day FROM final_for_this_run);
INSERT INTO recon.supply_matches
WITH documented AS (
    SELECT facility, case_id, item_id, min(visit_number) AS visit_number,
           min(service_date) AS day, sum(quantity) AS qty
    FROM canonical.case_supply_lines
    WHERE extract_date <= $as_of
    GROUP BY ALL
), issued AS (
    SELECT facility, case_id, item_id, min(visit_number) AS visit_number, min(txn_date) AS day,
           sum(quantity) AS qty, string_agg(txn_id, ' ' ORDER BY txn_id) AS refs
    FROM asof_inventory
    WHERE txn_type = 'ISSUE' AND case_id IS NOT NULL
    GROUP BY ALL
)
SELECT $as_of, COALESCE(d.facility, i.facility), COALESCE(d.case_id, i.case_id),
       COALESCE(d.item_id, i.item_id), COALESCE(d.visit_number, i.visit_number),
       COALESCE(d.day, i.day), COALESCE(d.qty, 0), COALESCE(i.qty, 0),
       CASE WHEN d.qty IS NULL THEN 'not_documented'
            WHEN i.qty IS NULL THEN 'not_relieved'
            WHEN d.qty = i.qty THEN 'matched'
            ELSE 'quantity_differs' END,
       i.refs
FROM documented d
FULL OUTER JOIN issued i
  ON i.facility = d.facility AND i.case_id = d.case_id AND i.item_id = d.item_id
WHERE COALESCE(d.day, i.day) IN (SELECT day FROM final_for_this_run);
