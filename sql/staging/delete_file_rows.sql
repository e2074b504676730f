-- Remove an earlier load of a file (re-delivery replaces it). {table} as in insert_rows.sql.
DELETE FROM staging.{table} WHERE file_name = $file_name
