INSERT OR REPLACE INTO recon.rule_catalogue (rule_id, severity, owner, description, sql_file)
VALUES ($rule_id, $severity, $owner, $description, $sql_file)
