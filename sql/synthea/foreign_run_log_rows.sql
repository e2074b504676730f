-- Audit rows of ops.run_log written by anything but the Synthea adapter ($audit_step).
SELECT count(*) FROM ops.run_log WHERE step <> $audit_step
