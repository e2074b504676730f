-- Derive the work queue (recon.exceptions) and its history (recon.exception_events) from every
-- evaluation so far. Deterministic: the same findings give the same rows, whatever the order in
-- which days were (re)run.
--   in scope: an evaluation date whose window covers the exception's scope date (always, when
--             the rule has no date) and which evaluated its rule, on or after it was first seen;
--   open:     found by the latest evaluation in scope; otherwise resolved on the first in-scope
--             evaluation after its last sighting.

CREATE OR REPLACE TEMP TABLE exception_evaluations AS
WITH latest AS (
    SELECT * FROM recon.findings
    QUALIFY row_number() OVER (PARTITION BY exception_id ORDER BY as_of_date DESC) = 1
), sightings AS (
    SELECT exception_id, min(as_of_date) AS first_seen, max(as_of_date) AS last_seen
    FROM recon.findings GROUP BY exception_id
)
SELECT l.exception_id, l.rule_id, r.as_of_date,
       (f.exception_id IS NOT NULL) AS found
FROM latest l
JOIN sightings s USING (exception_id)
JOIN recon.rule_runs r
  ON r.as_of_date >= s.first_seen
 AND list_contains(string_split(r.rules, ','), l.rule_id)
 AND (l.scope_date IS NULL OR l.scope_date BETWEEN r.window_start AND r.window_end)
LEFT JOIN recon.findings f
  ON f.exception_id = l.exception_id AND f.as_of_date = r.as_of_date;

DELETE FROM recon.exceptions;
INSERT INTO recon.exceptions BY NAME
WITH latest AS (
    SELECT * FROM recon.findings
    QUALIFY row_number() OVER (PARTITION BY exception_id ORDER BY as_of_date DESC) = 1
), status AS (
    SELECT exception_id,
           min(as_of_date) FILTER (WHERE found)                  AS first_seen,
           max(as_of_date) FILTER (WHERE found)                  AS last_seen,
           arg_max(found, as_of_date)                            AS open_now
    FROM exception_evaluations GROUP BY exception_id
), resolution AS (
    SELECT e.exception_id, min(e.as_of_date) AS resolved_at
    FROM exception_evaluations e JOIN status s USING (exception_id)
    WHERE NOT e.found AND e.as_of_date > s.last_seen
    GROUP BY e.exception_id
)
SELECT l.* EXCLUDE (as_of_date, scope_date),
       strftime(s.first_seen, '%Y-%m-%d')                        AS first_seen_run,
       strftime(s.last_seen, '%Y-%m-%d')                         AS last_seen_run,
       CASE WHEN s.open_now THEN 'open' ELSE 'resolved' END       AS status,
       CASE WHEN s.open_now THEN NULL ELSE r.resolved_at END      AS resolved_at,
       CASE WHEN s.open_now
            THEN (SELECT max(as_of_date) FROM recon.rule_runs) - s.first_seen
            ELSE r.resolved_at - s.first_seen END                 AS age_days
FROM latest l
JOIN status s USING (exception_id)
LEFT JOIN resolution r USING (exception_id);

DELETE FROM recon.exception_events;
INSERT INTO recon.exception_events (exception_id, run, event, rule_id)
WITH ordered AS (
    SELECT *, lag(found) OVER (PARTITION BY exception_id ORDER BY as_of_date) AS was_found,
           row_number() OVER (PARTITION BY exception_id ORDER BY as_of_date) AS n
    FROM exception_evaluations
)
SELECT exception_id, strftime(as_of_date, '%Y-%m-%d'),
       CASE WHEN n = 1 THEN 'opened'
            WHEN found AND was_found THEN 'seen'
            WHEN found THEN 'reopened'
            ELSE 'resolved' END,
       rule_id
FROM ordered
WHERE found OR was_found;
