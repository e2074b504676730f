-- Rows of "{schema}"."{table}".
SELECT count(*) FROM "{schema}"."{table}"
