-- The digest of nightly run $as_of, per owner (replaced on rerun).
DELETE FROM report.daily_digest WHERE as_of_date = $as_of;
INSERT INTO report.daily_digest
WITH ev AS (
    SELECT x.owner, x.amount_impact, ev.event
    FROM recon.exception_events ev JOIN recon.exceptions x USING (exception_id)
    WHERE ev.run = strftime(CAST($as_of AS DATE), '%Y-%m-%d')
), still_open AS (
    SELECT owner, count(*) AS n, COALESCE(sum(amount_impact), 0) AS dollars
    FROM recon.exceptions
    WHERE CAST(first_seen_run AS DATE) <= $as_of
      AND (status = 'open' OR resolved_at > $as_of)
    GROUP BY owner
), owners AS (
    SELECT DISTINCT owner FROM recon.rule_catalogue
)
SELECT CAST($as_of AS DATE), o.owner,
       count(*) FILTER (WHERE ev.event IN ('opened', 'reopened')),
       COALESCE(sum(ev.amount_impact) FILTER (WHERE ev.event IN ('opened', 'reopened')), 0),
       COALESCE(any_value(s.n), 0), COALESCE(any_value(s.dollars), 0),
       count(*) FILTER (WHERE ev.event = 'resolved'),
       COALESCE(sum(ev.amount_impact) FILTER (WHERE ev.event = 'resolved'), 0)
FROM owners o
LEFT JOIN ev ON ev.owner = o.owner
LEFT JOIN still_open s ON s.owner = o.owner
GROUP BY o.owner;
