-- Every base table of the warehouse (its own catalog, not temp), as (schema, table).
SELECT table_schema, table_name FROM information_schema.tables
WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY 1, 2
