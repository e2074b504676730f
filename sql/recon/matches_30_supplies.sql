-- Supply match evidence of the decided days (matches_00_final_days.sql): per case and item, the
-- documented quantity against the inventory issues, with the issue transactions.
CREATE OR REPLACE TEMP TABLE new_supply_matches AS
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
SELECT COALESCE(d.facility, i.facility) AS facility, COALESCE(d.case_id, i.case_id) AS case_id,
       COALESCE(d.item_id, i.item_id) AS item_id,
       COALESCE(d.visit_number, i.visit_number) AS visit_number,
       COALESCE(d.day, i.day) AS activity_date,
       CAST(COALESCE(d.qty, 0) AS DECIMAL(18,3)) AS documented_qty,
       CAST(COALESCE(i.qty, 0) AS DECIMAL(18,3)) AS issued_qty,
       CASE WHEN d.qty IS NULL THEN 'not_documented'
            WHEN i.qty IS NULL THEN 'not_relieved'
            WHEN d.qty = i.qty THEN 'matched'
            ELSE 'quantity_differs' END AS match_status,
       i.refs
FROM documented d
FULL OUTER JOIN issued i
  ON i.facility = d.facility AND i.case_id = d.case_id AND i.item_id = d.item_id
WHERE COALESCE(d.day, i.day) IN (SELECT day FROM final_for_this_run);

DELETE FROM recon.supply_matches
WHERE rowid IN (
    SELECT m.rowid FROM recon.supply_matches m
    ANTI JOIN new_supply_matches n
      ON n.facility = m.facility AND n.case_id = m.case_id AND n.item_id = m.item_id
     AND n.visit_number IS NOT DISTINCT FROM m.visit_number
     AND n.activity_date = m.activity_date AND n.documented_qty = m.documented_qty
     AND n.issued_qty = m.issued_qty AND n.match_status = m.match_status
     AND n.refs IS NOT DISTINCT FROM m.refs
    WHERE m.activity_date IN (SELECT day FROM final_for_this_run));

INSERT INTO recon.supply_matches
SELECT $as_of, n.*
FROM new_supply_matches n
ANTI JOIN (SELECT * FROM recon.supply_matches
           WHERE activity_date IN (SELECT day FROM final_for_this_run)) m
  ON m.activity_date = n.activity_date AND m.facility = n.facility
 AND m.case_id = n.case_id AND m.item_id = n.item_id;
