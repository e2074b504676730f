-- UNMAPPED_ITEM: an item documented in a case or moved by inventory that the item master (any
-- snapshot delivered so far) does not know. Keys: facility, item. Owner: supply chain.
WITH used AS (
    SELECT facility, item_id, service_date AS activity_date, visit_number,
           'CaseSupply/' || case_id AS ref
    FROM canonical.case_supply_lines
    WHERE extract_date <= $as_of AND service_date BETWEEN $window_start AND $as_of
    UNION ALL
    SELECT facility, item_id, txn_date, visit_number, 'Inventory/' || txn_id
    FROM asof_inventory
    WHERE txn_date BETWEEN $window_start AND $as_of
)
SELECT u.facility, NULL AS department_code, NULL AS cost_center, NULL AS natural_account,
       NULL AS visit_number, NULL AS cdm_code, u.item_id AS item_or_ndc,
       min(u.activity_date) AS service_date, max(u.activity_date) AS scope_date,
       NULL AS expected_qty, NULL AS actual_qty, NULL AS expected_amount, NULL AS actual_amount,
       NULL AS amount_impact,
       format('Item {} was used or issued at {} ({} record(s) since {}) but is not in the item '
              || 'master, so it can be neither charged nor costed.', u.item_id, u.facility,
              count(*), strftime(min(u.activity_date), '%Y-%m-%d')) AS detail,
       string_agg(u.ref, ' ' ORDER BY u.ref) AS source_refs,
       concat_ws('|', u.facility, u.item_id) AS business_key
FROM used u
WHERE u.item_id NOT IN (SELECT item_id FROM known_items)
GROUP BY u.facility, u.item_id
