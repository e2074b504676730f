-- What was known on the evaluation date ($as_of): temp tables the rules read.
-- Only data delivered on or before $as_of counts, and master data is the one in effect on each
-- record's service date, so evaluating an old date again gives the same answer.

-- Chargemaster: the latest snapshot delivered by $as_of (it carries its own price history).
CREATE OR REPLACE TEMP TABLE asof_cdm AS
SELECT cdm_code, description, ndc, department_code, unit_price, gl_revenue_account, status,
       effective_from, COALESCE(effective_to, DATE '9999-12-31') AS effective_to
FROM staging.chargemaster
WHERE extract_date = (SELECT max(extract_date) FROM staging.chargemaster
                      WHERE extract_date <= $as_of);

-- Department map: each snapshot is in effect from its extract date until the next one.
CREATE OR REPLACE TEMP TABLE asof_department_map AS
WITH snaps AS (
    SELECT extract_date,
           lead(extract_date) OVER (ORDER BY extract_date) AS next_date,
           row_number() OVER (ORDER BY extract_date)       AS n
    FROM (SELECT DISTINCT extract_date FROM staging.department_map WHERE extract_date <= $as_of)
)
SELECT d.source_system, d.source_department_code, d.facility, d.cost_center,
       CASE WHEN s.n = 1 THEN DATE '1900-01-01' ELSE s.extract_date END AS valid_from,
       COALESCE(s.next_date - 1, DATE '9999-12-31')                    AS valid_to
FROM staging.department_map d JOIN snaps s USING (extract_date);

-- Item master, the same way.
CREATE OR REPLACE TEMP TABLE asof_item_master AS
WITH snaps AS (
    SELECT extract_date,
           lead(extract_date) OVER (ORDER BY extract_date) AS next_date,
           row_number() OVER (ORDER BY extract_date)       AS n
    FROM (SELECT DISTINCT extract_date FROM staging.item_master WHERE extract_date <= $as_of)
)
SELECT i.item_id, i.unit_cost, i.chargeable, i.cdm_code, i.status,
       CASE WHEN s.n = 1 THEN DATE '1900-01-01' ELSE s.extract_date END AS valid_from,
       COALESCE(s.next_date - 1, DATE '9999-12-31')                    AS valid_to
FROM staging.item_master i JOIN snaps s USING (extract_date);

-- Visits known from ADT by $as_of, with their event history applied: an A11 cancels the admit,
-- an A13 cancels the discharge, the latest event carries the patient class.
CREATE OR REPLACE TEMP TABLE asof_visits AS
WITH events AS (
    SELECT facility, visit_number,
           arg_max(patient_class, (message_at, row_number))                      AS patient_class,
           CAST(min(admit_at) AS DATE)                                           AS admit_date,
           arg_max(event_type, (message_at, row_number))
               FILTER (WHERE event_type IN ('A01', 'A04', 'A11'))                AS admit_state,
           arg_max(CAST(discharge_at AS DATE), (message_at, row_number))
               FILTER (WHERE event_type IN ('A03', 'A13'))                       AS discharge_date_raw,
           arg_max(event_type, (message_at, row_number))
               FILTER (WHERE event_type IN ('A03', 'A13'))                       AS discharge_state
    FROM staging.adt_events
    WHERE extract_date <= $as_of
    GROUP BY facility, visit_number
)
SELECT facility, visit_number, patient_class, admit_date,
       COALESCE(admit_state = 'A11', false)                                      AS cancelled,
       CASE WHEN discharge_state = 'A03' THEN discharge_date_raw END             AS discharge_date
FROM events;

-- Charge transaction ids delivered more than once by $as_of (re-deliveries; the first wins).
CREATE OR REPLACE TEMP TABLE charge_redelivered AS
SELECT facility, transaction_id
FROM canonical.charge_lines
WHERE extract_date <= $as_of
GROUP BY ALL
HAVING count(*) > 1;

-- Posted charge lines that the evaluation reads: serviced in the window, or posted since
-- $posted_from (the GL batches of the window; the close asks for three months). Each (facility,
-- transaction id) once, the first delivery wins; only the few re-delivered ids need ordering.
-- Visit totals over every line of a visit are visit_charge_totals (prepare_30).
CREATE OR REPLACE TEMP TABLE asof_charge_lines AS
WITH lines AS NOT MATERIALIZED (
    SELECT * FROM canonical.charge_lines WHERE extract_date <= $as_of
)
SELECT l.* FROM lines l ANTI JOIN charge_redelivered r USING (facility, transaction_id)
WHERE l.service_date BETWEEN $window_start AND $as_of OR l.post_date BETWEEN $posted_from AND $as_of
UNION ALL
SELECT * FROM (
    SELECT l.* FROM lines l SEMI JOIN charge_redelivered r USING (facility, transaction_id)
    QUALIFY row_number() OVER (PARTITION BY facility, transaction_id
                               ORDER BY extract_date, file_name, row_number) = 1
)
WHERE service_date BETWEEN $window_start AND $as_of OR post_date BETWEEN $posted_from AND $as_of;

-- Expected charges from documented activity in the window (the latest version of each resource
-- by $as_of, decided over every version; only resources with several versions need ordering).
CREATE OR REPLACE TEMP TABLE asof_expected_lines AS
WITH procs_all AS NOT MATERIALIZED (
    SELECT * FROM canonical.procedure_versions WHERE extract_date <= $as_of
), procs_versioned AS (
    SELECT resource_id FROM procs_all GROUP BY ALL HAVING count(*) > 1
), procs AS (
    SELECT p.* FROM procs_all p ANTI JOIN procs_versioned v USING (resource_id)
    WHERE p.service_date BETWEEN $window_start AND $as_of
    UNION ALL
    SELECT * FROM (
        SELECT p.* FROM procs_all p SEMI JOIN procs_versioned v USING (resource_id)
        QUALIFY row_number() OVER (PARTITION BY resource_id
                                   ORDER BY extract_date DESC, file_name DESC, row_number DESC) = 1
    )
    WHERE service_date BETWEEN $window_start AND $as_of
), meds_all AS NOT MATERIALIZED (
    SELECT * FROM canonical.med_administration_versions WHERE extract_date <= $as_of
), meds_versioned AS (
    SELECT resource_id FROM meds_all GROUP BY ALL HAVING count(*) > 1
), meds AS (
    SELECT m.* FROM meds_all m ANTI JOIN meds_versioned v USING (resource_id)
    WHERE m.service_date BETWEEN $window_start AND $as_of
    UNION ALL
    SELECT * FROM (
        SELECT m.* FROM meds_all m SEMI JOIN meds_versioned v USING (resource_id)
        QUALIFY row_number() OVER (PARTITION BY resource_id
                                   ORDER BY extract_date DESC, file_name DESC, row_number DESC) = 1
    )
    WHERE service_date BETWEEN $window_start AND $as_of
)
SELECT facility, visit_number, cdm_code, service_date, CAST(1 AS DECIMAL(18,3)) AS quantity,
       department_code, 'Procedure/' || resource_id AS source_ref, NULL AS item_or_ndc
FROM procs
WHERE status = 'completed' AND cdm_code IS NOT NULL
UNION ALL
SELECT m.facility, m.visit_number, c.cdm_code, m.service_date, m.quantity, m.department_code,
       'MedicationAdministration/' || m.resource_id, m.ndc
FROM meds m
LEFT JOIN asof_cdm c
       ON c.ndc = m.ndc AND m.service_date BETWEEN c.effective_from AND c.effective_to
WHERE m.status = 'completed'
QUALIFY row_number() OVER (PARTITION BY m.resource_id ORDER BY c.status, c.cdm_code) = 1
UNION ALL
SELECT s.facility, s.visit_number, i.cdm_code, s.service_date, s.quantity, s.department_code,
       'CaseSupply/' || s.case_id || '/' || s.item_id, s.item_id
FROM canonical.case_supply_lines s
JOIN asof_item_master i
  ON i.item_id = s.item_id AND s.service_date BETWEEN i.valid_from AND i.valid_to
WHERE s.extract_date <= $as_of AND i.chargeable = 'Y'
  AND s.service_date BETWEEN $window_start AND $as_of;

-- Posted side of each charge key in the window (every line, CG and CD), aggregated once: the
-- duplicate search and charge_keys both start from it.
CREATE OR REPLACE TEMP TABLE charge_posted_keys AS
SELECT facility, visit_number, cdm_code, service_date,
       sum(signed_quantity)                                    AS net_qty,
       sum(signed_amount)                                      AS posted_amount,
       min(department_code)                                    AS department_code,
       count(*)                                                AS posted_lines,
       count(*) FILTER (WHERE txn_type = 'CG')                 AS cg_lines,
       sum(hash(transaction_id))                               AS posted_refs_hash
FROM asof_charge_lines
WHERE service_date BETWEEN $window_start AND $as_of
GROUP BY ALL;

-- Identical CG lines (visit, code, service date, quantity, amounts, modifiers, performer) in the
-- window, less the credits that reverse them: more than one live line is a duplicate charge.
CREATE OR REPLACE TEMP TABLE charge_duplicate_groups AS
WITH multi AS (
    -- only keys with two or more CG lines can hold a duplicate: group the rest no further
    SELECT facility, visit_number, cdm_code, service_date
    FROM charge_posted_keys
    WHERE cg_lines > 1
), cg AS (
    SELECT l.facility, l.visit_number, l.cdm_code, l.service_date, l.quantity,
           l.extended_amount, l.unit_amount, l.modifiers, l.performing_npi,
           count(*)                                                AS lines,
           max(l.post_date)                                        AS last_post_date,
           min(l.department_code)                                  AS department_code,
           array_to_string(list_sort(list(l.transaction_id)), ' ') AS refs
    FROM asof_charge_lines l
    SEMI JOIN multi m
      ON m.facility = l.facility AND m.visit_number = l.visit_number
     AND m.cdm_code = l.cdm_code AND m.service_date = l.service_date
    WHERE l.txn_type = 'CG'
    GROUP BY ALL
), cd AS (
    SELECT l.facility, l.visit_number, l.cdm_code, l.service_date, l.quantity,
           abs(l.extended_amount) AS amount, count(*) AS credits
    FROM asof_charge_lines l
    SEMI JOIN multi m
      ON m.facility = l.facility AND m.visit_number = l.visit_number
     AND m.cdm_code = l.cdm_code AND m.service_date = l.service_date
    WHERE l.txn_type = 'CD'
    GROUP BY ALL
)
SELECT g.*, COALESCE(cd.credits, 0) AS credits,
       greatest(g.lines - COALESCE(cd.credits, 0), 0) AS live_lines
FROM cg g
LEFT JOIN cd
       ON cd.facility = g.facility AND cd.visit_number = g.visit_number
      AND cd.cdm_code = g.cdm_code AND cd.service_date = g.service_date
      AND cd.quantity = g.quantity AND cd.amount = g.extended_amount;

-- One row per charge key in the window, with both sides and the master-data verdicts. The
-- records behind a key are listed only for the keys that a rule reports (fill_charge_refs.sql).
-- Extra lines of a duplicate group are left out of posted_qty, so a duplicate is reported as a
-- duplicate and not also as a quantity mismatch (one root cause, one exception).
CREATE OR REPLACE TEMP TABLE charge_keys AS
WITH expected AS (
    SELECT facility, visit_number, cdm_code, service_date,
           sum(quantity)                                    AS expected_qty,
           min(department_code)                             AS department_code,
           min(item_or_ndc)                                 AS item_or_ndc,
           count(*)                                         AS documented_lines,
           sum(hash(source_ref))                            AS documented_refs_hash
    FROM asof_expected_lines
    WHERE service_date BETWEEN $window_start AND $as_of
    GROUP BY ALL
), extra AS (
    SELECT facility, visit_number, cdm_code, service_date,
           sum((live_lines - 1) * quantity) AS extra_qty
    FROM charge_duplicate_groups
    WHERE live_lines > 1
    GROUP BY ALL
), keys AS (
    SELECT COALESCE(e.facility, p.facility)                 AS facility,
           COALESCE(e.visit_number, p.visit_number)         AS visit_number,
           COALESCE(e.cdm_code, p.cdm_code)                 AS cdm_code,
           COALESCE(e.service_date, p.service_date)         AS service_date,
           COALESCE(e.expected_qty, 0)                      AS expected_qty,
           COALESCE(p.net_qty, 0) - COALESCE(x.extra_qty, 0) AS posted_qty,
           COALESCE(p.posted_amount, 0)                     AS posted_amount,
           COALESCE(p.department_code, e.department_code)   AS department_code,
           e.item_or_ndc, COALESCE(p.posted_lines, 0)      AS posted_lines,
           -- the records behind the key (charge_match_lines), as one 64-bit hash: the evidence
           -- change set rewrites the records of a key only when this changes
           hash(COALESCE(e.documented_lines, 0), e.documented_refs_hash,
                COALESCE(p.posted_lines, 0), p.posted_refs_hash) AS records_fingerprint
    FROM expected e
    FULL OUTER JOIN charge_posted_keys p
      ON p.facility = e.facility AND p.visit_number = e.visit_number
     AND p.cdm_code IS NOT DISTINCT FROM e.cdm_code AND p.service_date = e.service_date
    LEFT JOIN extra x
      ON x.facility = p.facility AND x.visit_number = p.visit_number
     AND x.cdm_code = p.cdm_code AND x.service_date = p.service_date
)
SELECT k.*,
       c.unit_price,
       c.gl_revenue_account                 AS natural_account,
       d.cost_center,
       (c.cdm_code IS NULL)                 AS unknown_cdm,
       (v.visit_number IS NULL)             AS unknown_visit,
       (d.cost_center IS NULL)              AS unmapped_department
FROM keys k
LEFT JOIN asof_cdm c
       ON c.cdm_code = k.cdm_code AND c.status = 'A'
      AND k.service_date BETWEEN c.effective_from AND c.effective_to
LEFT JOIN asof_visits v
       ON v.facility = k.facility AND v.visit_number = k.visit_number
LEFT JOIN asof_department_map d
       ON d.source_system = 'EHR' AND d.facility = k.facility
      AND d.source_department_code = k.department_code
      AND k.service_date BETWEEN d.valid_from AND d.valid_to;
