-- Record one channel run (reconcile/channels/state.py).
INSERT INTO ops.channel_runs
VALUES ($channel, $feed, $extract_date, $started_at, $finished_at, $outcome, $files_fetched,
        $bytes_fetched, $rows_fetched, $retries, $errors, $last_error, $files);
