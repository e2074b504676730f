-- A re-delivery replaced this file: earlier checksums are no longer the loaded version.
UPDATE ops.file_manifest SET outcome = 'superseded'
WHERE file_name = $file_name AND sha256 <> $sha256 AND outcome IN ('loaded', 'replaced')
