-- The month-end close package (close-and-outputs.md), one row set per period and facility;
-- facility 'ALL' is the system. A period's rows are replaced whenever its close is rebuilt.

CREATE TABLE IF NOT EXISTS report.close_runs (
    period          VARCHAR NOT NULL,   -- YYYY-MM
    facility        VARCHAR NOT NULL,
    preliminary     BOOLEAN NOT NULL,   -- built before the period's last day was reconciled
    ready_to_close  BOOLEAN NOT NULL,
    as_of_date      DATE NOT NULL,      -- the last reconciled business date it reflects
    built_by_run    VARCHAR NOT NULL,
    PRIMARY KEY (period, facility)
);

-- 1. One row per reconciliation: status tied / variance / open exceptions.
CREATE TABLE IF NOT EXISTS report.close_checklist (
    period                  VARCHAR NOT NULL,
    facility                VARCHAR NOT NULL,
    reconciliation          VARCHAR NOT NULL,
    side_a                  VARCHAR NOT NULL,   -- what the first amount is
    amount_a                DECIMAL(18,2),
    side_b                  VARCHAR NOT NULL,
    amount_b                DECIMAL(18,2),
    difference              DECIMAL(18,2),
    threshold               DECIMAL(18,2),
    open_exceptions         INTEGER NOT NULL,
    open_dollars            DECIMAL(18,2),
    blocking_checks_passed  BOOLEAN NOT NULL,
    status                  VARCHAR NOT NULL,   -- tied | variance | open exceptions
    row_ok                  BOOLEAN NOT NULL    -- tied, or its variance is below threshold
);

-- 2. Posted charges vs GL revenue by facility, cost center, revenue account and posting date.
CREATE TABLE IF NOT EXISTS report.revenue_tieout (
    period          VARCHAR NOT NULL,
    facility        VARCHAR NOT NULL,
    cost_center     VARCHAR,
    natural_account VARCHAR,
    post_date       DATE NOT NULL,
    posted_charges  DECIMAL(18,2) NOT NULL,
    gl_revenue      DECIMAL(18,2) NOT NULL,
    difference      DECIMAL(18,2) NOT NULL
);

-- 2b. Cut-off: service in the period posted in the next one (needs an accrual), and the reverse.
CREATE TABLE IF NOT EXISTS report.revenue_cutoff (
    period      VARCHAR NOT NULL,
    facility    VARCHAR NOT NULL,
    direction   VARCHAR NOT NULL,   -- served_in_period_posted_after | served_before_posted_in_period
    lines       INTEGER NOT NULL,
    amount      DECIMAL(18,2) NOT NULL
);

-- 3. Unbilled receivable at period end: visits in house or discharged not final billed.
CREATE TABLE IF NOT EXISTS report.unbilled_accrual (
    period          VARCHAR NOT NULL,
    facility        VARCHAR NOT NULL,
    patient_class   VARCHAR NOT NULL,
    state           VARCHAR NOT NULL,   -- in house | discharged not final billed
    visits          INTEGER NOT NULL,
    gross_charges   DECIMAL(18,2) NOT NULL
);

-- 4. Exceptions by rule, owner and facility, with aging buckets of what is still open.
CREATE TABLE IF NOT EXISTS report.exception_summary (
    period              VARCHAR NOT NULL,
    facility            VARCHAR NOT NULL,
    rule_id             VARCHAR NOT NULL,
    owner               VARCHAR NOT NULL,
    open_count          INTEGER NOT NULL,
    open_dollars        DECIMAL(18,2) NOT NULL,
    age_0_3             INTEGER NOT NULL,
    age_4_7             INTEGER NOT NULL,
    age_8_14            INTEGER NOT NULL,
    age_15_30           INTEGER NOT NULL,
    age_over_30         INTEGER NOT NULL,
    opened_in_period    INTEGER NOT NULL,
    resolved_in_period  INTEGER NOT NULL
);

-- 5. KPIs with numerator, denominator and source; 6. the same for earlier periods (trend).
CREATE TABLE IF NOT EXISTS report.kpis (
    period      VARCHAR NOT NULL,
    facility    VARCHAR NOT NULL,
    kpi         VARCHAR NOT NULL,
    value       DECIMAL(18,4),
    numerator   DECIMAL(18,4),
    denominator DECIMAL(18,4),
    unit        VARCHAR NOT NULL,   -- days | percent | dollars | units | lines
    source      VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS report.kpi_trend (
    period      VARCHAR NOT NULL,   -- the close period the trend belongs to
    facility    VARCHAR NOT NULL,
    kpi_period  VARCHAR NOT NULL,   -- one of the 12 periods before (and including) it
    kpi         VARCHAR NOT NULL,
    value       DECIMAL(18,4),
    unit        VARCHAR NOT NULL
);

-- Charge lag distribution for the HTML chart: lines by days from service to posting.
CREATE TABLE IF NOT EXISTS report.charge_lag_distribution (
    period      VARCHAR NOT NULL,
    facility    VARCHAR NOT NULL,
    lag_days    INTEGER NOT NULL,   -- 0..30; 31 = more than 30
    lines       INTEGER NOT NULL,
    amount      DECIMAL(18,2) NOT NULL
);
