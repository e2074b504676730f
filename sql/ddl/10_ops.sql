-- Operational tables: what landed, what each feed looked like per day, and the run audit trail.

-- One row per landed file version (path + checksum): the state of that file, not a log.
-- A rerun that finds the same file again changes nothing here.
CREATE TABLE IF NOT EXISTS ops.file_manifest (
    file_name      VARCHAR NOT NULL,   -- path relative to the landing root
    feed           VARCHAR NOT NULL,
    facility       VARCHAR,
    extract_date   DATE NOT NULL,
    size_bytes     BIGINT NOT NULL,
    sha256         VARCHAR NOT NULL,
    control_sha256 VARCHAR,            -- of the .ctl file judged with it
    rows_declared  BIGINT,             -- from the control file
    rows_loaded    BIGINT,
    rows_rejected  BIGINT,
    outcome        VARCHAR NOT NULL,   -- loaded | replaced | rejected | incomplete
    reason         VARCHAR,
    run_id         VARCHAR NOT NULL,
    recorded_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (file_name, sha256)
);

-- Per extract date and feed: arrived, missing, incomplete or rejected. Replaced on rerun.
CREATE TABLE IF NOT EXISTS ops.feed_status (
    extract_date   DATE NOT NULL,
    feed           VARCHAR NOT NULL,
    facility       VARCHAR NOT NULL,   -- '*' for feeds that are not per facility
    status         VARCHAR NOT NULL,   -- arrived | missing | incomplete | rejected
    files          INTEGER NOT NULL,
    rows_loaded    BIGINT NOT NULL,
    rows_rejected  BIGINT NOT NULL,
    PRIMARY KEY (extract_date, feed, facility)
);

-- Append-only audit trail of runs (the only table a rerun adds rows to, by design).
CREATE TABLE IF NOT EXISTS ops.run_log (
    run_id         VARCHAR NOT NULL,
    partition_key  VARCHAR,
    step           VARCHAR NOT NULL,
    started_by     VARCHAR,
    inputs         VARCHAR,            -- JSON: files with checksums and row counts
    outputs        VARCHAR,            -- JSON: tables with row counts
    started_at     TIMESTAMP NOT NULL,
    finished_at    TIMESTAMP,
    outcome        VARCHAR NOT NULL
);

-- One row per channel run per feed: how fetching from the source system went (feed health).
CREATE TABLE IF NOT EXISTS ops.channel_runs (
    channel        VARCHAR NOT NULL,   -- sftp | rest_api | fhir_bulk | sql
    feed           VARCHAR NOT NULL,
    extract_date   DATE NOT NULL,
    started_at     TIMESTAMP NOT NULL,
    finished_at    TIMESTAMP,
    outcome        VARCHAR NOT NULL,   -- success | nothing_new | failed
    files_fetched  INTEGER NOT NULL,
    bytes_fetched  BIGINT NOT NULL,
    rows_fetched   BIGINT NOT NULL,
    retries        INTEGER NOT NULL,
    errors         INTEGER NOT NULL,
    last_error     VARCHAR,            -- message only: names, codes and counts, never patient data
    files          VARCHAR             -- JSON list of landing paths written
);

-- Incremental pulls: the last position fetched per channel and feed (updated_since,
-- FHIR transactionTime). Advanced only after the landing file is complete.
CREATE TABLE IF NOT EXISTS ops.channel_watermarks (
    channel        VARCHAR NOT NULL,
    feed           VARCHAR NOT NULL,
    watermark      VARCHAR NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (channel, feed)
);
