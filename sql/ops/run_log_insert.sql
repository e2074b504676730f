-- One audit row per step of a run (append-only; counts, checksums and ids only, never PHI).
INSERT INTO ops.run_log
    (run_id, partition_key, step, started_by, inputs, outputs, started_at, finished_at, outcome)
VALUES ($run_id, $partition_key, $step, $started_by, $inputs, $outputs,
        CAST($started_at AS TIMESTAMP), CAST($finished_at AS TIMESTAMP), $outcome)
