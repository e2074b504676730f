-- GL_UNPOSTED_BATCH: a day of charges that map to the ledger with no REVENUE_INTERFACE batch, or
-- a batch still UNPOSTED, 2 days after the posting date.
-- Keys: facility, batch date (cost center and account empty). Dollars: the day's charges.
-- Owner: general ledger.
WITH days AS (
    SELECT facility, batch_date, sum(posted_amount) AS posted_amount, sum(lines) AS lines
    FROM revenue_by_batch GROUP BY ALL
)
SELECT d.facility, NULL AS department_code, NULL AS cost_center, NULL AS natural_account,
       NULL AS visit_number, NULL AS cdm_code, NULL AS item_or_ndc,
       d.batch_date AS service_date, d.batch_date AS scope_date,
       NULL AS expected_qty, NULL AS actual_qty, d.posted_amount AS expected_amount,
       NULL AS actual_amount, d.posted_amount AS amount_impact,
       format('The revenue batch {}-{} ({} in {} charge line(s)) is {} in the ledger {} days '
              || 'after posting.', d.facility, strftime(d.batch_date, '%Y%m%d'),
              fmt_money(d.posted_amount), d.lines,
              CASE WHEN b.facility IS NULL THEN 'missing' ELSE 'still unposted' END,
              $as_of - d.batch_date) AS detail,
       NULL AS source_refs,
       concat_ws('|', d.facility, '', '', d.batch_date) AS business_key
FROM days d
LEFT JOIN revenue_batches b ON b.facility = d.facility AND b.batch_date = d.batch_date
WHERE $as_of - d.batch_date >= 2 AND (b.facility IS NULL OR NOT b.posted)
