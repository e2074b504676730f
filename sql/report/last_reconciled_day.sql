SELECT max(as_of_date) FROM recon.rule_runs
