-- Open exceptions by rule with dollars at risk, for asset metadata and the run summary.
SELECT rule_id, count(*) AS open_exceptions, COALESCE(sum(amount_impact), 0) AS dollars
FROM recon.exceptions
WHERE status = 'open'
GROUP BY rule_id
ORDER BY rule_id
