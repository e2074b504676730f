-- Earlier versions of a landed file: what was decided about each checksum.
SELECT sha256, outcome, rows_loaded, rows_rejected, control_sha256
FROM ops.file_manifest
WHERE file_name = $file_name
