-- Pharmacy and supply-chain activity known on $as_of (temp tables the rules read).

-- Per visit and NDC over the stay to date: net dispensed (vends - returns - waste) against
-- administered (completed administrations, dose in dispensing units). Pairs with activity in the
-- window are evaluated; their balances use every record delivered by $as_of. Only the pairs with
-- a record dated in the window are read in full, so the cost follows the window, not the history;
-- each cabinet transaction counts once (first delivery) and each administration in its latest
-- version, decided over every delivery, as before.
CREATE OR REPLACE TEMP TABLE med_balances AS
WITH cabinet_all AS NOT MATERIALIZED (
    SELECT * FROM staging.cabinet_transactions
    WHERE extract_date <= $as_of AND txn_type IN ('V', 'R', 'W') AND visit_number IS NOT NULL
), admin_all AS NOT MATERIALIZED (
    SELECT * FROM canonical.med_administration_versions WHERE extract_date <= $as_of
), active AS (
    -- a superset of the pairs whose latest activity falls in the window (filtered exactly below)
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
), dispensed AS (
    SELECT facility, visit_number, ndc,
           sum(CASE WHEN txn_type = 'V' THEN quantity ELSE -quantity END)     AS dispensed_net,
           max(CAST(txn_at AS DATE))                                          AS last_cabinet_date,
           string_agg(txn_id, ' ' ORDER BY txn_id)                            AS cabinet_refs
    FROM cabinet GROUP BY ALL
), administered AS (
    SELECT facility, visit_number, ndc, sum(quantity) AS administered,
           max(service_date) AS last_admin_date,
           string_agg(resource_id, ' ' ORDER BY resource_id) AS admin_refs
    FROM admin
    WHERE status = 'completed' AND ndc IS NOT NULL
    GROUP BY ALL
)
SELECT COALESCE(d.facility, a.facility)                     AS facility,
       COALESCE(d.visit_number, a.visit_number)             AS visit_number,
       COALESCE(d.ndc, a.ndc)                               AS ndc,
       COALESCE(d.dispensed_net, 0)                         AS dispensed_net,
       COALESCE(a.administered, 0)                          AS administered,
       d.last_cabinet_date, a.last_admin_date,
       greatest(d.last_cabinet_date, a.last_admin_date)     AS last_activity,
       concat_ws(' ', d.cabinet_refs, a.admin_refs)         AS refs
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
