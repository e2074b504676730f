-- The work queue brought up to date with evaluation $as_of when it is the latest one and nothing
-- derived so far refers to it (refresh_mode.sql). It gives what refresh_exceptions.sql gives
-- (the lifecycle is causal: evaluation $as_of changes no earlier night), but reads each
-- exception's sightings once instead of pairing every exception with every evaluation since it
-- was first seen, so a night's cost does not grow with the nights before it.
--   in scope tonight: $as_of evaluated its rule, did not hold its facility, and either found it
--                     or its latest finding's scope date is in tonight's window (or it has none);
--   rewritten:        what was found tonight, and every open exception (its age grows or it is
--                     resolved).

CREATE OR REPLACE TEMP TABLE tonight AS
SELECT window_start, window_end, string_split(rules, ',') AS rules,
       string_split(NULLIF(held_facilities, ''), ',') AS held
FROM recon.rule_runs WHERE as_of_date = $as_of;

CREATE OR REPLACE TEMP TABLE exception_sightings AS
SELECT exception_id, min(as_of_date) AS first_seen, max(as_of_date) AS last_seen
FROM recon.findings GROUP BY exception_id;

-- The exceptions to rewrite, with their latest finding, tonight's verdict and the stored state.
CREATE OR REPLACE TEMP TABLE exception_updates AS
WITH touched AS (
    SELECT exception_id FROM recon.findings WHERE as_of_date = $as_of
    UNION
    SELECT exception_id FROM recon.exceptions WHERE status = 'open'
    -- (a resolved exception in scope but not found tonight keeps its state and has no event)
), latest AS (
    SELECT f.*, s.first_seen, s.last_seen
    FROM recon.findings f
    JOIN exception_sightings s
      ON s.exception_id = f.exception_id AND s.last_seen = f.as_of_date
    SEMI JOIN touched x ON x.exception_id = f.exception_id
)
SELECT l.*,
       l.last_seen = $as_of AS found,
       (list_contains(t.rules, l.rule_id)
        AND NOT COALESCE(list_contains(t.held, l.facility), false)
        AND (l.last_seen = $as_of OR l.scope_date IS NULL
             OR l.scope_date BETWEEN t.window_start AND t.window_end)) AS in_scope,
       e.status AS stored_status
FROM latest l
CROSS JOIN tonight t
LEFT JOIN recon.exceptions e ON e.exception_id = l.exception_id;

CREATE OR REPLACE TEMP TABLE new_exceptions AS SELECT * FROM recon.exceptions LIMIT 0;
INSERT INTO new_exceptions BY NAME
WITH state AS (
    SELECT *,
           CASE WHEN in_scope THEN found ELSE stored_status = 'open' END AS open_now
    FROM exception_updates
    WHERE in_scope OR stored_status = 'open'
)
SELECT * EXCLUDE (as_of_date, scope_date, first_seen, last_seen, found, in_scope, stored_status,
                  open_now),
       strftime(first_seen, '%Y-%m-%d')                          AS first_seen_run,
       strftime(last_seen, '%Y-%m-%d')                           AS last_seen_run,
       CASE WHEN open_now THEN 'open' ELSE 'resolved' END         AS status,
       -- not open now: it was open, was in scope tonight and not found, so resolved tonight
       CASE WHEN open_now THEN NULL ELSE CAST($as_of AS DATE) END  AS resolved_at,
       CAST($as_of AS DATE) - first_seen                          AS age_days
FROM state;

DELETE FROM recon.exceptions
WHERE exception_id IN (SELECT exception_id FROM (SELECT * FROM new_exceptions
                                                EXCEPT SELECT * FROM recon.exceptions));
INSERT INTO recon.exceptions
SELECT * FROM new_exceptions EXCEPT SELECT * FROM recon.exceptions;

-- Tonight's events: opened (first sighting), seen, reopened, resolved (in scope, not found,
-- open until tonight).
INSERT INTO recon.exception_events (exception_id, run, event, rule_id)
SELECT exception_id, strftime(CAST($as_of AS DATE), '%Y-%m-%d'),
       CASE WHEN found AND stored_status IS NULL THEN 'opened'
            WHEN found AND stored_status = 'open' THEN 'seen'
            WHEN found THEN 'reopened'
            ELSE 'resolved' END,
       rule_id
FROM exception_updates
WHERE in_scope AND (found OR stored_status = 'open');
