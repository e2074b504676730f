DELETE FROM staging.rejected_rows WHERE file_name = $file_name
