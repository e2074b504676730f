SELECT rule_id, count(*) FROM recon.findings WHERE as_of_date = $as_of GROUP BY rule_id
