-- The digest of nightly run $as_of, per owner (replaced on rerun). Built from the exception
-- history and the findings as they stood on that night only, so rerunning a day reproduces it.
DELETE FROM report.daily_digest WHERE as_of_date = $as_of;
INSERT INTO report.daily_digest
WITH history AS (
    -- each exception's latest event up to that night, and its latest finding up to then
    SELECT exception_id, arg_max(event, run) AS last_event,
           max(run) FILTER (WHERE run = strftime(CAST($as_of AS DATE), '%Y-%m-%d')) IS NOT NULL
               AS event_tonight
    FROM recon.exception_events
    WHERE run <= strftime(CAST($as_of AS DATE), '%Y-%m-%d')
    GROUP BY exception_id
), sightings AS (
    SELECT exception_id, owner, amount_impact
    FROM recon.findings
    WHERE as_of_date <= $as_of
    QUALIFY row_number() OVER (PARTITION BY exception_id ORDER BY as_of_date DESC) = 1
), state AS (
    SELECT s.owner, s.amount_impact, h.last_event, h.event_tonight
    FROM history h JOIN sightings s USING (exception_id)
), owners AS (
    SELECT DISTINCT owner FROM recon.rule_catalogue
)
SELECT CAST($as_of AS DATE), o.owner,
       count(*) FILTER (WHERE event_tonight AND last_event IN ('opened', 'reopened')),
       COALESCE(sum(amount_impact) FILTER (WHERE event_tonight
                                           AND last_event IN ('opened', 'reopened')), 0),
       count(*) FILTER (WHERE last_event <> 'resolved'),
       COALESCE(sum(amount_impact) FILTER (WHERE last_event <> 'resolved'), 0),
       count(*) FILTER (WHERE event_tonight AND last_event = 'resolved'),
       COALESCE(sum(amount_impact) FILTER (WHERE event_tonight AND last_event = 'resolved'), 0)
FROM owners o
LEFT JOIN state s ON s.owner = o.owner
GROUP BY o.owner;
