-- Drop a temp table the read no longer needs.
DROP TABLE {table}
