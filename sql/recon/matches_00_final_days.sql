-- The service days whose match evidence evaluation $as_of decides: the days of its window that
-- no later evaluation's window covers, so rerunning an old day rewrites nothing that a later day
-- decided. The evidence files (matches_*.sql) run after the rules, in the same transaction.
--
-- Evidence is written as a change set: a row identical to the stored one is left as it is (its
-- as_of_date stays the evaluation that first recorded that state), a row that changed or appeared
-- is written with $as_of, and a row of a decided day that is no longer found is deleted. A night
-- therefore writes what changed since the night before, not the whole window again.
CREATE OR REPLACE TEMP TABLE final_for_this_run AS
SELECT d::DATE AS day
FROM range($window_start, $as_of + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
WHERE NOT EXISTS (SELECT 1 FROM recon.rule_runs r
                  WHERE r.as_of_date > $as_of
                    AND d::DATE BETWEEN r.window_start AND r.window_end);
