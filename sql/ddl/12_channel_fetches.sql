-- Fetch manifest of the channels that pull files (SFTP): one row per remote file version fetched,
-- so the same remote file (path + checksum) is never fetched twice; a re-delivery (same path,
-- other checksum) is a new row.
CREATE TABLE IF NOT EXISTS ops.channel_fetches (
    channel        VARCHAR NOT NULL,   -- the [channels.<name>] section
    remote_path    VARCHAR NOT NULL,   -- data file on the server, as listed
    sha256         VARCHAR NOT NULL,   -- of the data file (verified against its control file)
    size_bytes     BIGINT NOT NULL,
    feed           VARCHAR NOT NULL,
    facility       VARCHAR,
    extract_date   DATE NOT NULL,
    landing_path   VARCHAR NOT NULL,   -- written to, relative to the landing root
    fetched_at     TIMESTAMP NOT NULL, -- UTC
    archived_to    VARCHAR,            -- where it was moved on the server, if archiving is on
    PRIMARY KEY (channel, remote_path, sha256)
);
