-- Pharmacy and supply-chain activity known on $as_of (temp tables the rules read).

-- The cabinet and administration records of every visit/NDC pair with activity in the window,
-- over the stay to date: each cabinet transaction once (first delivery) and each completed
-- administration in its latest version, decided over every delivery. Only the pairs with a
-- record dated in the window are read in full, so the cost follows the window, not the history.
-- The balances below and the records listed in evidence and findings all come from here.
CREATE OR REPLACE TEMP TABLE med_records AS
WITH cabinet_all AS NOT MATERIALIZED (
    SELECT * FROM staging.cabinet_transactions
    WHERE extract_date <= $as_of AND txn_type IN ('V', 'R', 'W') AND visit_number IS NOT NULL
), admin_all AS NOT MATERIALIZED (
    SELECT * FROM canonical.med_administration_versions WHERE extract_date <= $as_of
), active AS (
    -- a superset of the pairs whose latest activity falls in the window (med_balances keeps exactly those)
    SELECT DISTINCT facility, visit_number, ndc FROM cabinet_all
    WHERE CAST(txn_at AS DATE) >= $window_start
    UNION
    SELECT DISTINCT facility, visit_number, ndc FROM admin_all
    WHERE service_date >= $window_start AND ndc IS NOT NULL
), cabinet_redelivered AS (
    SELECT facility, txn_id FROM cabinet_all GROUP BY ALL HAVING count(*) > 1
), cabinet AS (
    SELECT c.* FROM cabinet_all c
    SEMI JOIN active a
      ON a.facility = c.facility AND a.visit_number = c.visit_number
     AND a.ndc IS NOT DISTINCT FROM c.ndc
    ANTI JOIN cabinet_redelivered r ON r.facility = c.facility AND r.txn_id = c.txn_id
    UNION ALL
    SELECT * FROM (
        SELECT c.* FROM cabinet_all c
        SEMI JOIN cabinet_redelivered r ON r.facility = c.facility AND r.txn_id = c.txn_id
        QUALIFY row_number() OVER (PARTITION BY c.facility, c.txn_id
                                   ORDER BY c.extract_date, c.file_name, c.row_number) = 1
    ) c
    SEMI JOIN active a
      ON a.facility = c.facility AND a.visit_number = c.visit_number
     AND a.ndc IS NOT DISTINCT FROM c.ndc
), admin_versioned AS (
    SELECT resource_id FROM admin_all GROUP BY ALL HAVING count(*) > 1
), admin AS (
    SELECT m.* FROM admin_all m
    SEMI JOIN active a
      ON a.facility = m.facility AND a.visit_number = m.visit_number AND a.ndc = m.ndc
    ANTI JOIN admin_versioned v ON v.resource_id = m.resource_id
    UNION ALL
    SELECT * FROM (
        SELECT m.* FROM admin_all m
        SEMI JOIN admin_versioned v ON v.resource_id = m.resource_id
        QUALIFY row_number() OVER (PARTITION BY m.resource_id
                                   ORDER BY m.extract_date DESC, m.file_name DESC,
                                            m.row_number DESC) = 1
    ) m
    SEMI JOIN active a
      ON a.facility = m.facility AND a.visit_number = m.visit_number AND a.ndc = m.ndc
)
SELECT facility, visit_number, ndc, true AS cabinet, txn_id AS record_ref, txn_type, quantity,
       CAST(txn_at AS DATE) AS record_date
FROM cabinet
UNION ALL
SELECT facility, visit_number, ndc, false, resource_id, NULL, quantity, service_date
FROM admin
WHERE status = 'completed' AND ndc IS NOT NULL;

-- Per visit and NDC over the stay to date: net dispensed (vends - returns - waste) against
-- administered (completed administrations, dose in dispensing units), for the pairs whose latest
-- record falls in the window. The records themselves are listed only where they are read (the
-- findings of the pharmacy rules and evidence that changed: matches_20_pharmacy.sql); here they
-- are summed into one 64-bit hash, which changes when they change.
CREATE OR REPLACE TEMP TABLE med_balances AS
WITH dispensed AS (
    SELECT facility, visit_number, ndc,
           sum(CASE WHEN txn_type = 'V' THEN quantity ELSE -quantity END)     AS dispensed_net,
           max(record_date)                                                   AS last_cabinet_date,
           count(*)                                                           AS records,
           sum(hash(record_ref))                                              AS refs_hash
    FROM med_records WHERE cabinet GROUP BY ALL
), administered AS (
    SELECT facility, visit_number, ndc, sum(quantity) AS administered,
           max(record_date) AS last_admin_date,
           count(*) AS records, sum(hash(record_ref)) AS refs_hash
    FROM med_records WHERE NOT cabinet GROUP BY ALL
)
SELECT COALESCE(d.facility, a.facility)                     AS facility,
       COALESCE(d.visit_number, a.visit_number)             AS visit_number,
       COALESCE(d.ndc, a.ndc)                               AS ndc,
       COALESCE(d.dispensed_net, 0)                         AS dispensed_net,
       COALESCE(a.administered, 0)                          AS administered,
       d.last_cabinet_date, a.last_admin_date,
       greatest(d.last_cabinet_date, a.last_admin_date)     AS last_activity,
       hash(COALESCE(d.records, 0), d.refs_hash, COALESCE(a.records, 0), a.refs_hash)
                                                            AS records_fingerprint
FROM dispensed d
FULL OUTER JOIN administered a
  ON a.facility = d.facility AND a.visit_number = d.visit_number AND a.ndc = d.ndc
WHERE greatest(d.last_cabinet_date, a.last_admin_date) >= $window_start;

-- Inventory transactions delivered by $as_of, each txn_id once.
CREATE OR REPLACE TEMP TABLE asof_inventory AS
SELECT *, CAST(txn_at AS DATE) AS txn_date
FROM staging.inventory_transactions
WHERE extract_date <= $as_of
QUALIFY row_number() OVER (PARTITION BY txn_id ORDER BY extract_date, file_name, row_number) = 1;

-- Items known to the item master delivered by $as_of (any snapshot).
CREATE OR REPLACE TEMP TABLE known_items AS
SELECT DISTINCT item_id FROM asof_item_master;
