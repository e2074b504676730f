-- Rows of "{schema}"."{table}" that no Synthea load wrote (load run id not $run_prefix...).
SELECT count(*) FROM "{schema}"."{table}" WHERE load_run_id NOT LIKE $run_prefix || '%'
