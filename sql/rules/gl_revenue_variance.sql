-- GL_REVENUE_VARIANCE: posted charges that map to the ledger, summed by facility, posting date,
-- cost center and revenue account, against the REVENUE_INTERFACE lines (credit - debit) of the
-- POSTED batch of that date. Missing or unposted batches are GL_UNPOSTED_BATCH instead.
-- Keys: facility, cost center, natural account, batch date. Threshold: gl_tolerance.
-- Dollars: posted - ledger (revenue that did not reach the ledger). Owner: general ledger.
WITH ledger AS (
    SELECT b.facility, b.batch_date, g.cost_center, g.natural_account,
           sum(g.net_credit) AS gl_amount,
           string_agg(g.journal_id || '#' || g.line_number, ' ' ORDER BY g.journal_id,
                      g.line_number) AS refs
    FROM asof_gl_lines g
    JOIN revenue_batches b
      ON g.reference = b.facility || '-' || strftime(b.batch_date, '%Y%m%d')
    WHERE g.source = 'REVENUE_INTERFACE' AND g.status <> 'REVERSED' AND b.posted
      AND b.batch_date BETWEEN $window_start AND $as_of
    GROUP BY ALL
), charges AS (
    SELECT r.* FROM revenue_by_batch r
    JOIN revenue_batches b
      ON b.facility = r.facility AND b.batch_date = r.batch_date AND b.posted
), compared AS (
    SELECT COALESCE(c.facility, l.facility)               AS facility,
           COALESCE(c.batch_date, l.batch_date)           AS batch_date,
           COALESCE(c.cost_center, l.cost_center)         AS cost_center,
           COALESCE(c.natural_account, l.natural_account) AS natural_account,
           COALESCE(c.posted_amount, 0)                   AS posted_amount,
           COALESCE(l.gl_amount, 0)                       AS gl_amount,
           l.refs
    FROM charges c
    FULL OUTER JOIN ledger l
      ON l.facility = c.facility AND l.batch_date = c.batch_date
     AND l.cost_center = c.cost_center AND l.natural_account = c.natural_account
)
SELECT facility, NULL AS department_code, cost_center, natural_account, NULL AS visit_number,
       NULL AS cdm_code, NULL AS item_or_ndc, batch_date AS service_date,
       batch_date AS scope_date, NULL AS expected_qty, NULL AS actual_qty,
       posted_amount AS expected_amount, gl_amount AS actual_amount,
       posted_amount - gl_amount AS amount_impact,
       format('Revenue batch {}-{}: charges posted to cost center {}, account {} total {} but the '
              || 'ledger shows {} ({} difference).', facility, strftime(batch_date, '%Y%m%d'),
              cost_center, natural_account, fmt_money(posted_amount), fmt_money(gl_amount),
              fmt_money(posted_amount - gl_amount)) AS detail,
       refs AS source_refs,
       concat_ws('|', facility, cost_center, natural_account, batch_date) AS business_key
FROM compared
WHERE abs(posted_amount - gl_amount) > CAST($gl_tolerance AS DECIMAL(18,2))
