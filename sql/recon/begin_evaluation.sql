-- Replace the evaluation of $as_of (a rerun of the day replaces, never appends).
DELETE FROM recon.findings WHERE as_of_date = $as_of;
INSERT OR REPLACE INTO recon.rule_runs (as_of_date, window_start, window_end, rules, held_facilities)
VALUES ($as_of, $window_start, $as_of, $rules, $held_facilities);
