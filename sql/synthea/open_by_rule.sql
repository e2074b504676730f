-- Open exceptions by rule, for the rules in $rules.
SELECT rule_id, count(*) FROM recon.exceptions
WHERE status = 'open' AND list_contains($rules, rule_id) GROUP BY rule_id
