-- Record one remote file version as fetched (reconcile/channels/sftp.py), after it landed whole.
INSERT OR REPLACE INTO ops.channel_fetches
    (channel, remote_path, sha256, size_bytes, feed, facility, extract_date, landing_path, fetched_at,
     archived_to)
VALUES ($channel, $remote_path, $sha256, $size_bytes, $feed, $facility, CAST($extract_date AS DATE),
        $landing_path, CAST($fetched_at AS TIMESTAMP), $archived_to);
