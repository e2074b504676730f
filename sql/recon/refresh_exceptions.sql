-- Derive the work queue (recon.exceptions) and its history (recon.exception_events) from every
-- evaluation so far. Deterministic: the same findings give the same rows, whatever the order in
-- which days were (re)run.
--   in scope: an evaluation date on or after its first sighting, which evaluated its rule, did
--             not hold its facility back (a bad feed of that facility that night), and whose
--             window covers the scope date of its latest finding so far (always, when the rule
--             has no date);
--   open:     found by the latest evaluation in scope; otherwise resolved on the first in-scope
--             evaluation after its last sighting.

CREATE OR REPLACE TEMP TABLE exception_evaluations AS
WITH ids AS (
    SELECT exception_id, any_value(rule_id) AS rule_id, any_value(facility) AS facility,
           min(as_of_date) AS first_seen
    FROM recon.findings GROUP BY exception_id
), candidates AS (
    SELECT i.exception_id, i.rule_id, r.as_of_date, r.window_start, r.window_end
    FROM ids i
    JOIN recon.rule_runs r
      ON r.as_of_date >= i.first_seen
     AND list_contains(string_split(r.rules, ','), i.rule_id)
     AND NOT COALESCE(list_contains(string_split(NULLIF(r.held_facilities, ''), ','), i.facility),
                      false)
)
-- Causal: whether run r had the exception in scope depends only on findings up to r (the
-- latest one at or before r), so a later night never rewrites an earlier night's history.
SELECT c.exception_id, c.rule_id, c.as_of_date, (f.as_of_date = c.as_of_date) AS found
FROM candidates c
ASOF JOIN recon.findings f
  ON f.exception_id = c.exception_id AND c.as_of_date >= f.as_of_date
WHERE f.as_of_date = c.as_of_date
   OR f.scope_date IS NULL
   OR f.scope_date BETWEEN c.window_start AND c.window_end;

-- Written as a change set: rows that are the same as stored are left alone (a night rewrites the
-- exceptions whose state changed, not the whole history of the work queue).
CREATE OR REPLACE TEMP TABLE new_exceptions AS SELECT * FROM recon.exceptions LIMIT 0;
INSERT INTO new_exceptions BY NAME
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

DELETE FROM recon.exceptions
WHERE exception_id IN (SELECT exception_id FROM (SELECT * FROM recon.exceptions
                                                EXCEPT SELECT * FROM new_exceptions));
INSERT INTO recon.exceptions
SELECT * FROM new_exceptions EXCEPT SELECT * FROM recon.exceptions;

CREATE OR REPLACE TEMP TABLE new_exception_events AS
WITH ordered AS (
    SELECT *, lag(found) OVER (PARTITION BY exception_id ORDER BY as_of_date) AS was_found,
           row_number() OVER (PARTITION BY exception_id ORDER BY as_of_date) AS n
    FROM exception_evaluations
)
SELECT exception_id, strftime(as_of_date, '%Y-%m-%d') AS run,
       CASE WHEN n = 1 THEN 'opened'
            WHEN found AND was_found THEN 'seen'
            WHEN found THEN 'reopened'
            ELSE 'resolved' END AS event,
       rule_id
FROM ordered
WHERE found OR was_found;

DELETE FROM recon.exception_events e
WHERE NOT EXISTS (SELECT 1 FROM new_exception_events n
                  WHERE n.exception_id = e.exception_id AND n.run = e.run
                    AND n.event = e.event AND n.rule_id = e.rule_id);
INSERT INTO recon.exception_events (exception_id, run, event, rule_id)
SELECT exception_id, run, event, rule_id FROM new_exception_events n
WHERE NOT EXISTS (SELECT 1 FROM recon.exception_events e
                  WHERE e.exception_id = n.exception_id AND e.run = n.run);
