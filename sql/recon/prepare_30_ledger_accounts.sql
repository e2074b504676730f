-- General ledger, billing accounts and timecards known on $as_of (temp tables the rules read).

-- GL journal lines: the latest version of each (journal, line); reversed lines do not count.
CREATE OR REPLACE TEMP TABLE asof_gl_lines AS
SELECT *, credit - debit AS net_credit, debit - credit AS net_debit
FROM staging.gl_journal_lines
WHERE extract_date <= $as_of
QUALIFY row_number() OVER (PARTITION BY journal_id, line_number
                           ORDER BY updated_at DESC NULLS LAST, extract_date DESC,
                                    row_number DESC) = 1;

-- Cost centers: the latest snapshot delivered by $as_of (the facility of each cost center).
CREATE OR REPLACE TEMP TABLE asof_cost_centers AS
SELECT cost_center, facility, natural_account_revenue
FROM staging.cost_centers
WHERE extract_date = (SELECT max(extract_date) FROM staging.cost_centers
                      WHERE extract_date <= $as_of)
QUALIFY row_number() OVER (PARTITION BY cost_center ORDER BY valid_from DESC NULLS LAST) = 1;

-- Billing accounts: each visit's row in the latest snapshot that still lists it (one hash
-- aggregate keeping the newest row, rather than sorting every snapshot row).
CREATE OR REPLACE TEMP TABLE asof_accounts AS
WITH newest AS (
    SELECT facility, visit_number,
           arg_max({'account_number': account_number, 'patient_class': patient_class,
                    'admit_date': admit_date, 'discharge_date': discharge_date,
                    'account_status': account_status, 'final_bill_date': final_bill_date,
                    'total_charges': total_charges, 'snapshot_date': extract_date},
                   (extract_date, row_number)) AS r
    FROM staging.billing_accounts
    WHERE extract_date <= $as_of
    GROUP BY facility, visit_number
)
SELECT visit_number, facility, r.account_number, r.patient_class, r.admit_date, r.discharge_date,
       r.account_status, r.final_bill_date, r.total_charges, r.snapshot_date,
       r.snapshot_date = (SELECT max(extract_date) FROM staging.billing_accounts
                          WHERE extract_date <= $as_of) AS in_latest_snapshot
FROM newest;

-- Net posted charges of every visit (all lines, whatever their code, department or date; each
-- transaction id once, the first delivery wins).
CREATE OR REPLACE TEMP TABLE visit_charge_totals AS
WITH lines AS NOT MATERIALIZED (
    SELECT facility, visit_number, transaction_id, signed_amount, post_date, extract_date,
           file_name, row_number
    FROM canonical.charge_lines
    WHERE extract_date <= $as_of
), once AS (
    SELECT l.* FROM lines l ANTI JOIN charge_redelivered r USING (facility, transaction_id)
    UNION ALL
    SELECT l.* FROM lines l SEMI JOIN charge_redelivered r USING (facility, transaction_id)
    QUALIFY row_number() OVER (PARTITION BY facility, transaction_id
                               ORDER BY extract_date, file_name, row_number) = 1
)
SELECT facility, visit_number, sum(signed_amount) AS net_charges,
       min(post_date) AS first_post_date, count(*) AS lines
FROM once
GROUP BY ALL;

-- Approved timecards (latest version of each) by facility, cost center and pay-period end.
CREATE OR REPLACE TEMP TABLE labor_by_period AS
WITH cards AS (
    SELECT * FROM staging.timecards WHERE extract_date <= $as_of
    QUALIFY row_number() OVER (PARTITION BY timecard_id
                               ORDER BY updated_at DESC NULLS LAST, extract_date DESC,
                                        row_number DESC) = 1
)
SELECT facility, cost_center,
       CAST($pay_period_anchor AS DATE)
         + 14 * CAST(ceil(datediff('day', CAST($pay_period_anchor AS DATE), work_date) / 14.0)
                     AS INTEGER)                                AS period_end,
       CAST(round(sum(hours * hourly_rate), 2) AS DECIMAL(18,2)) AS labor_cost,
       count(*) AS cards
FROM cards
WHERE approved
GROUP BY ALL;

-- The natural account a GL source uses most for a cost center, else overall (to name the
-- account of a line that is missing altogether).
CREATE OR REPLACE TEMP TABLE gl_usual_accounts AS
SELECT source, cost_center, mode(natural_account) AS natural_account
FROM asof_gl_lines
GROUP BY GROUPING SETS ((source, cost_center), (source));

-- Revenue-interface batches by facility and batch (posting) date, from the line references.
CREATE OR REPLACE TEMP TABLE revenue_batches AS
SELECT regexp_extract(reference, '^(.+)-(\d{8})$', 1)                          AS facility,
       CAST(strptime(regexp_extract(reference, '^(.+)-(\d{8})$', 2), '%Y%m%d') AS DATE)
                                                                               AS batch_date,
       bool_and(status = 'POSTED')                                             AS posted,
       count(*)                                                                AS lines
FROM asof_gl_lines
WHERE source = 'REVENUE_INTERFACE' AND status <> 'REVERSED'
  AND regexp_matches(reference, '^.+-\d{8}$')
GROUP BY ALL;

-- Posted charge lines that map to the ledger (department -> cost center, code -> revenue account
-- in effect on the service date), by facility, posting date, cost center and account.
CREATE OR REPLACE TEMP TABLE revenue_by_batch AS
SELECT l.facility, l.post_date AS batch_date, d.cost_center, c.gl_revenue_account AS natural_account,
       sum(l.signed_amount) AS posted_amount, count(*) AS lines
FROM asof_charge_lines l
JOIN asof_department_map d
  ON d.source_system = 'EHR' AND d.facility = l.facility
 AND d.source_department_code = l.department_code
 AND l.service_date BETWEEN d.valid_from AND d.valid_to
JOIN asof_cdm c
  ON c.cdm_code = l.cdm_code AND c.status = 'A'
 AND l.service_date BETWEEN c.effective_from AND c.effective_to
WHERE l.post_date BETWEEN $window_start AND $as_of
GROUP BY ALL;
