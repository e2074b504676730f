-- Keys matched in the evidence of the service days of $day's window, per side (asset metadata).
-- Evidence is a change set (a row keeps the evaluation that first recorded its state), so the
-- window's days are read, not the rows recorded on $day.
WITH w AS (SELECT window_start, window_end FROM recon.rule_runs WHERE as_of_date = $day)
SELECT 'charges' AS side, count(*) AS keys, count(*) FILTER (WHERE match_status = 'matched') AS matched
FROM recon.charge_matches, w WHERE service_date BETWEEN w.window_start AND w.window_end
UNION ALL
SELECT 'pharmacy', count(*), count(*) FILTER (WHERE match_status = 'matched')
FROM recon.pharmacy_matches, w WHERE last_activity BETWEEN w.window_start AND w.window_end
UNION ALL
SELECT 'supplies', count(*), count(*) FILTER (WHERE match_status = 'matched')
FROM recon.supply_matches, w WHERE activity_date BETWEEN w.window_start AND w.window_end
