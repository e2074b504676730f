-- Session settings for reading a Synthea export (run once per connection, before any read).
-- The CSV reader keeps each file's row order, so rowid + 1 is a file's data row number.
SET preserve_insertion_order = true;

-- Synthea writes ISO-8601 UTC timestamps (and plain dates in a few files): NULL when unreadable.
CREATE OR REPLACE TEMP MACRO syn_ts(x) AS
    try_strptime(x, ['%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S.%fZ', '%Y-%m-%d']);
