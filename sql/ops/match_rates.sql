-- Keys matched in the evidence recorded by the evaluation of $day, per side (asset metadata).
SELECT 'charges' AS side, count(*) AS keys, count(*) FILTER (WHERE match_status = 'matched') AS matched
FROM recon.charge_matches WHERE as_of_date = $day
UNION ALL
SELECT 'pharmacy', count(*), count(*) FILTER (WHERE match_status = 'matched')
FROM recon.pharmacy_matches WHERE as_of_date = $day
UNION ALL
SELECT 'supplies', count(*), count(*) FILTER (WHERE match_status = 'matched')
FROM recon.supply_matches WHERE as_of_date = $day
