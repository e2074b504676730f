-- Pharmacy and supply-chain activity known on $as_of (temp tables the rules read).

-- Per visit and NDC over the stay to date: net dispensed (vends - returns - waste) against
-- administered (completed administrations, dose in dispensing units). Pairs with activity in the
-- window are evaluated; their balances use every record delivered by $as_of.
CREATE OR REPLACE TEMP TABLE med_balances AS
WITH cabinet AS (
    SELECT * FROM staging.cabinet_transactions
    WHERE extract_date <= $as_of AND txn_type IN ('V', 'R', 'W') AND visit_number IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY facility, txn_id
                               ORDER BY extract_date, file_name, row_number) = 1
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
    FROM (
        SELECT * FROM canonical.med_administration_versions WHERE extract_date <= $as_of
        QUALIFY row_number() OVER (PARTITION BY resource_id
                                   ORDER BY extract_date DESC, file_name DESC, row_number DESC) = 1
    )
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
