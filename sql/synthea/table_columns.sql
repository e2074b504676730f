-- Column names of table $table in schema $schema of database $database (NULL: the warehouse's
-- own database; temp tables live in database temp, schema main).
SELECT column_name
FROM duckdb_columns()
WHERE database_name = COALESCE($database, current_database())
  AND schema_name = $schema AND table_name = $table
