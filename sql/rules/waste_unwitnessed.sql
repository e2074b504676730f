-- WASTE_UNWITNESSED: a cabinet waste transaction with no witness (controlled-substance
-- compliance). Keys: facility, visit, NDC. Owner: pharmacy.
SELECT facility, NULL AS department_code, NULL AS cost_center, NULL AS natural_account,
       visit_number, NULL AS cdm_code, ndc AS item_or_ndc,
       min(CAST(txn_at AS DATE)) AS service_date, max(CAST(txn_at AS DATE)) AS scope_date,
       NULL AS expected_qty, sum(quantity) AS actual_qty, NULL AS expected_amount,
       NULL AS actual_amount, NULL AS amount_impact,
       format('Visit {}: {} waste transaction(s) of NDC {} ({} unit(s)) have no witness.',
              visit_number, count(*), ndc, fmt_qty(sum(quantity))) AS detail,
       string_agg(txn_id, ' ' ORDER BY txn_id) AS source_refs,
       concat_ws('|', facility, visit_number, ndc) AS business_key
FROM staging.cabinet_transactions
WHERE extract_date <= $as_of AND txn_type = 'W' AND witness_id IS NULL
  AND CAST(txn_at AS DATE) BETWEEN $window_start AND $as_of
GROUP BY facility, visit_number, ndc
