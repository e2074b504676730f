-- Up to 10 rejected rows of the given files, for asset-check metadata (values left out: PHI).
SELECT file_name, row_number, "check", "column", reason
FROM staging.rejected_rows
WHERE list_contains($files, file_name)
ORDER BY file_name, row_number
LIMIT 10
