-- Reconciliation outputs. `findings` is what each nightly evaluation (as-of date) found;
-- `exceptions` and `exception_events` are derived from it deterministically, so a rerun of any
-- day (or the whole range) reproduces them exactly.

CREATE TABLE IF NOT EXISTS recon.rule_catalogue (
    rule_id     VARCHAR PRIMARY KEY,
    severity    VARCHAR NOT NULL,
    owner       VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    sql_file    VARCHAR NOT NULL
);

-- One row per nightly evaluation: the as-of date and the service-date window it re-reconciled.
CREATE TABLE IF NOT EXISTS recon.rule_runs (
    as_of_date    DATE PRIMARY KEY,
    window_start  DATE NOT NULL,
    window_end    DATE NOT NULL,
    rules         VARCHAR NOT NULL,     -- comma-separated rule ids evaluated
    held_facilities VARCHAR NOT NULL DEFAULT ''  -- facilities left out that night (bad feeds)
);
-- warehouses created before facilities could be held
ALTER TABLE recon.rule_runs ADD COLUMN IF NOT EXISTS held_facilities VARCHAR DEFAULT '';

CREATE TABLE IF NOT EXISTS recon.findings (
    as_of_date      DATE NOT NULL,
    exception_id    VARCHAR NOT NULL,
    rule_id         VARCHAR NOT NULL,
    severity        VARCHAR NOT NULL,
    owner           VARCHAR NOT NULL,
    facility        VARCHAR,
    department_code VARCHAR,
    cost_center     VARCHAR,
    natural_account VARCHAR,
    visit_number    VARCHAR,
    cdm_code        VARCHAR,
    item_or_ndc     VARCHAR,
    service_date    DATE,
    scope_date      DATE,              -- the date that puts it inside a run's window (NULL: always)
    expected_qty    DECIMAL(18,3),
    actual_qty      DECIMAL(18,3),
    expected_amount DECIMAL(18,2),
    actual_amount   DECIMAL(18,2),
    amount_impact   DECIMAL(18,2),
    detail          VARCHAR NOT NULL,
    source_refs     VARCHAR,
    PRIMARY KEY (as_of_date, exception_id)
);

CREATE TABLE IF NOT EXISTS recon.exceptions (
    exception_id    VARCHAR PRIMARY KEY,
    rule_id         VARCHAR NOT NULL,
    severity        VARCHAR NOT NULL,
    owner           VARCHAR NOT NULL,
    facility        VARCHAR,
    department_code VARCHAR,
    cost_center     VARCHAR,
    natural_account VARCHAR,
    visit_number    VARCHAR,
    cdm_code        VARCHAR,
    item_or_ndc     VARCHAR,
    service_date    DATE,
    expected_qty    DECIMAL(18,3),
    actual_qty      DECIMAL(18,3),
    expected_amount DECIMAL(18,2),
    actual_amount   DECIMAL(18,2),
    amount_impact   DECIMAL(18,2),
    detail          VARCHAR NOT NULL,
    source_refs     VARCHAR,
    first_seen_run  VARCHAR NOT NULL,  -- the nightly run (business date) that first found it
    last_seen_run   VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,  -- open | resolved
    resolved_at     DATE,
    age_days        INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS recon.exception_events (
    exception_id VARCHAR NOT NULL,
    run          VARCHAR NOT NULL,     -- nightly run (business date)
    event        VARCHAR NOT NULL,     -- opened | seen | resolved | reopened
    rule_id      VARCHAR NOT NULL,
    PRIMARY KEY (exception_id, run)
);

-- Match evidence: for each key, how the two sides compared in the latest evaluation whose
-- window covered it (as_of_date says which), and which records made up each side.
CREATE TABLE IF NOT EXISTS recon.charge_matches (
    as_of_date      DATE NOT NULL,
    facility        VARCHAR NOT NULL,
    visit_number    VARCHAR NOT NULL,
    cdm_code        VARCHAR,
    service_date    DATE NOT NULL,
    expected_qty    DECIMAL(18,3) NOT NULL,
    posted_qty      DECIMAL(18,3) NOT NULL,
    posted_amount   DECIMAL(18,2) NOT NULL,
    match_status    VARCHAR NOT NULL    -- matched | missing | pending | undocumented |
                                        -- quantity_mismatch | reversed (charged, credited, nothing
                                        -- documented: withdrawn) | master_data
);
-- warehouses made before the records moved to charge_match_lines
ALTER TABLE recon.charge_matches DROP COLUMN IF EXISTS expected_refs;
ALTER TABLE recon.charge_matches DROP COLUMN IF EXISTS posted_refs;
-- A 64-bit hash of the records behind the key (charge_match_lines): the nightly change set
-- compares the records of a key only when it changed. NULL in rows written before it existed
-- (those keys are compared in full once).
ALTER TABLE recon.charge_matches ADD COLUMN IF NOT EXISTS records_fingerprint UBIGINT;

-- The records behind each key of charge_matches (join on the key; as_of_date = the evaluation
-- that first listed the record under it): documentation records on one side, charge
-- transactions (first delivery of each id) on the other.
CREATE TABLE IF NOT EXISTS recon.charge_match_lines (
    as_of_date      DATE NOT NULL,
    facility        VARCHAR NOT NULL,
    visit_number    VARCHAR NOT NULL,
    cdm_code        VARCHAR,
    service_date    DATE NOT NULL,
    side            VARCHAR NOT NULL,   -- documented | posted
    record_ref      VARCHAR NOT NULL    -- Procedure/<id>, MedicationAdministration/<id>,
                                        -- CaseSupply/<case>/<item>, or the FT1 transaction id
);

CREATE TABLE IF NOT EXISTS recon.pharmacy_matches (
    as_of_date      DATE NOT NULL,
    facility        VARCHAR NOT NULL,
    visit_number    VARCHAR NOT NULL,
    ndc             VARCHAR NOT NULL,
    dispensed_net   DECIMAL(18,3) NOT NULL,
    administered    DECIMAL(18,3) NOT NULL,
    last_activity   DATE NOT NULL,
    match_status    VARCHAR NOT NULL,   -- matched | dispensed_not_administered | administered_not_dispensed
    refs            VARCHAR             -- cabinet txn ids and MedicationAdministration ids
);
-- A 64-bit hash of the records listed in refs (see charge_matches.records_fingerprint).
ALTER TABLE recon.pharmacy_matches ADD COLUMN IF NOT EXISTS records_fingerprint UBIGINT;

CREATE TABLE IF NOT EXISTS recon.supply_matches (
    as_of_date      DATE NOT NULL,
    facility        VARCHAR NOT NULL,
    case_id         VARCHAR NOT NULL,
    item_id         VARCHAR NOT NULL,
    visit_number    VARCHAR,
    activity_date   DATE NOT NULL,
    documented_qty  DECIMAL(18,3) NOT NULL,
    issued_qty      DECIMAL(18,3) NOT NULL,
    match_status    VARCHAR NOT NULL,   -- matched | not_relieved | not_documented | quantity_differs
    refs            VARCHAR
);
