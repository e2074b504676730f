-- Daily digest: per nightly run and owner, what is new, open and resolved, with dollars.
CREATE TABLE IF NOT EXISTS report.daily_digest (
    as_of_date       DATE NOT NULL,
    owner            VARCHAR NOT NULL,
    new_count        INTEGER NOT NULL,
    new_dollars      DECIMAL(18,2) NOT NULL,
    open_count       INTEGER NOT NULL,
    open_dollars     DECIMAL(18,2) NOT NULL,
    resolved_count   INTEGER NOT NULL,
    resolved_dollars DECIMAL(18,2) NOT NULL,
    PRIMARY KEY (as_of_date, owner)
);
