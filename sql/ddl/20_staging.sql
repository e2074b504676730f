-- Staging: typed, validated rows of every feed, with lineage (file, row, extract date, load run).
-- A file's rows are replaced as a whole when the file is re-delivered (delete by file_name, insert).

CREATE TABLE IF NOT EXISTS staging.rejected_rows (
    feed        VARCHAR NOT NULL,
    file_name   VARCHAR NOT NULL,
    row_number  BIGINT NOT NULL,       -- CSV data row / NDJSON line / HL7 message, 1-based
    "check"     VARCHAR NOT NULL,      -- which pandera check (or parser check) failed
    "column"    VARCHAR,
    value       VARCHAR,               -- offending value, truncated to 200 characters
    reason      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    loaded_at   TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.rejected_files (
    feed         VARCHAR NOT NULL,
    file_name    VARCHAR NOT NULL,
    sha256       VARCHAR,
    extract_date DATE,
    reason       VARCHAR NOT NULL,
    run_id       VARCHAR NOT NULL,
    rejected_at  TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.adt_events (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    message_control_id VARCHAR NOT NULL, message_type VARCHAR NOT NULL, event_type VARCHAR NOT NULL,
    message_at TIMESTAMP NOT NULL, event_at TIMESTAMP,
    mrn VARCHAR NOT NULL, account_number VARCHAR,
    patient_class VARCHAR, location_unit VARCHAR, facility VARCHAR NOT NULL,
    hospital_service VARCHAR, visit_number VARCHAR NOT NULL,
    admit_at TIMESTAMP, discharge_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS staging.charges (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    message_control_id VARCHAR NOT NULL, message_type VARCHAR NOT NULL, facility VARCHAR NOT NULL,
    visit_number VARCHAR NOT NULL, mrn VARCHAR, account_number VARCHAR, ft1_set_id INTEGER,
    transaction_id VARCHAR NOT NULL, service_date DATE NOT NULL, post_date DATE NOT NULL,
    txn_type VARCHAR NOT NULL, cdm_code VARCHAR NOT NULL, cdm_description VARCHAR,
    quantity DECIMAL(18,3) NOT NULL, extended_amount DECIMAL(18,2) NOT NULL,
    unit_amount DECIMAL(18,2), department_code VARCHAR NOT NULL,
    performing_npi VARCHAR, ordering_npi VARCHAR, order_number VARCHAR,
    cpt_hcpcs VARCHAR, modifiers VARCHAR, ndc VARCHAR
);

CREATE TABLE IF NOT EXISTS staging.procedures (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    resource_id VARCHAR NOT NULL, status VARCHAR NOT NULL, cpt_code VARCHAR, cdm_code VARCHAR,
    mrn VARCHAR, visit_number VARCHAR NOT NULL, performed_at TIMESTAMP NOT NULL,
    performer_npi VARCHAR, department_code VARCHAR, facility VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.med_administrations (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    resource_id VARCHAR NOT NULL, status VARCHAR NOT NULL, ndc VARCHAR,
    mrn VARCHAR, visit_number VARCHAR NOT NULL, effective_at TIMESTAMP NOT NULL,
    dose_value DECIMAL(18,3), dose_unit VARCHAR, order_number VARCHAR,
    department_code VARCHAR, facility VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.case_supplies (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL, facility VARCHAR NOT NULL, visit_number VARCHAR NOT NULL,
    documented_at TIMESTAMP NOT NULL, department_code VARCHAR NOT NULL, item_id VARCHAR NOT NULL,
    quantity DECIMAL(18,3) NOT NULL, implant_flag VARCHAR NOT NULL, serial_number VARCHAR
);

CREATE TABLE IF NOT EXISTS staging.cabinet_transactions (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    txn_id VARCHAR NOT NULL, txn_at TIMESTAMP NOT NULL, facility VARCHAR NOT NULL,
    cabinet_id VARCHAR NOT NULL, txn_type VARCHAR NOT NULL, visit_number VARCHAR, mrn VARCHAR,
    order_number VARCHAR, ndc VARCHAR NOT NULL, drug_description VARCHAR,
    quantity DECIMAL(18,3) NOT NULL, unit VARCHAR, user_id VARCHAR, witness_id VARCHAR
);

CREATE TABLE IF NOT EXISTS staging.inventory_transactions (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    txn_id VARCHAR NOT NULL, txn_at TIMESTAMP NOT NULL, txn_type VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL, quantity DECIMAL(18,3) NOT NULL, unit VARCHAR,
    unit_cost DECIMAL(18,2), facility VARCHAR NOT NULL, from_location VARCHAR,
    department_code VARCHAR, visit_number VARCHAR, case_id VARCHAR
);

CREATE TABLE IF NOT EXISTS staging.item_master (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL, description VARCHAR, unit VARCHAR, unit_cost DECIMAL(18,2),
    category VARCHAR, chargeable VARCHAR NOT NULL, implant VARCHAR NOT NULL, cdm_code VARCHAR,
    hcpcs VARCHAR, status VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.gl_journal_lines (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    journal_id VARCHAR NOT NULL, line_number INTEGER NOT NULL, ledger VARCHAR, period VARCHAR NOT NULL,
    accounting_date DATE NOT NULL, posted_at TIMESTAMP, status VARCHAR NOT NULL,
    source VARCHAR NOT NULL, account VARCHAR NOT NULL, entity VARCHAR, cost_center VARCHAR,
    natural_account VARCHAR, sub_account VARCHAR,
    debit DECIMAL(18,2) NOT NULL, credit DECIMAL(18,2) NOT NULL, currency VARCHAR,
    reference VARCHAR, description VARCHAR, updated_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS staging.cost_centers (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    cost_center VARCHAR NOT NULL, facility VARCHAR NOT NULL, name VARCHAR, service_line VARCHAR,
    natural_account_revenue VARCHAR, active BOOLEAN NOT NULL, valid_from DATE, valid_to DATE
);

CREATE TABLE IF NOT EXISTS staging.chargemaster (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    cdm_code VARCHAR NOT NULL, description VARCHAR, revenue_code VARCHAR, cpt_hcpcs VARCHAR,
    ndc VARCHAR, department_code VARCHAR, unit_price DECIMAL(18,2) NOT NULL,
    gl_revenue_account VARCHAR NOT NULL, effective_from DATE NOT NULL, effective_to DATE,
    status VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.department_map (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    source_system VARCHAR NOT NULL, source_department_code VARCHAR NOT NULL,
    facility VARCHAR NOT NULL, cost_center VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.billing_accounts (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    visit_number VARCHAR NOT NULL, facility VARCHAR NOT NULL, mrn VARCHAR,
    account_number VARCHAR, patient_class VARCHAR, admit_date DATE, discharge_date DATE,
    account_status VARCHAR NOT NULL, final_bill_date DATE, total_charges DECIMAL(18,2) NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.timecards (
    file_name VARCHAR NOT NULL, row_number BIGINT NOT NULL, extract_date DATE NOT NULL,
    load_run_id VARCHAR NOT NULL,
    timecard_id VARCHAR NOT NULL, employee_id VARCHAR NOT NULL, facility VARCHAR NOT NULL,
    cost_center VARCHAR NOT NULL, work_date DATE NOT NULL, pay_code VARCHAR NOT NULL,
    hours DECIMAL(18,2) NOT NULL, hourly_rate DECIMAL(18,2) NOT NULL, approved BOOLEAN NOT NULL,
    updated_at TIMESTAMP
);
