-- Whether the work queue can be brought up to date by appending evaluation $as_of alone
-- (refresh_exceptions_latest.sql): $as_of is the latest evaluation, and nothing derived so far
-- refers to it (a first run of the night, or a rerun of it that found and resolved nothing).
-- Otherwise (a rerun or backfill of an earlier night) the whole history is derived again
-- (refresh_exceptions.sql).
SELECT NOT EXISTS (SELECT 1 FROM recon.rule_runs WHERE as_of_date > $as_of)
   AND NOT EXISTS (SELECT 1 FROM recon.exception_events WHERE run >= strftime($as_of, '%Y-%m-%d'))
   AND NOT EXISTS (SELECT 1 FROM recon.exceptions
                   WHERE last_seen_run >= strftime($as_of, '%Y-%m-%d') OR resolved_at >= $as_of)
       AS append_only
