-- Canonical model as views over staging. They carry every version of every record with the
-- extract date that delivered it; the nightly evaluation picks what was known as of its date
-- (sql/recon/prepare_*.sql), so rerunning an old day reproduces it.

-- Visit events from ADT, in the order they happened.
CREATE OR REPLACE VIEW canonical.visit_events AS
SELECT facility, visit_number, event_type, message_at, event_at, patient_class,
       hospital_service, admit_at, discharge_at, extract_date, file_name, row_number,
       message_control_id
FROM staging.adt_events;

-- Charge lines as posted (CG positive, CD as a credit), one per (facility, transaction id) per file.
CREATE OR REPLACE VIEW canonical.charge_lines AS
SELECT facility, visit_number, transaction_id, service_date, post_date, txn_type, cdm_code,
       quantity, extended_amount, unit_amount, department_code, performing_npi, modifiers,
       order_number, ndc,
       CASE WHEN txn_type = 'CD' THEN -quantity ELSE quantity END           AS signed_quantity,
       CASE WHEN txn_type = 'CD' THEN -abs(extended_amount) ELSE extended_amount END
                                                                            AS signed_amount,
       extract_date, file_name, row_number
FROM staging.charges;

-- Documented procedures (every version; status decides later whether it counts).
CREATE OR REPLACE VIEW canonical.procedure_versions AS
SELECT facility, visit_number, resource_id, status, cdm_code, cpt_code,
       CAST(performed_at AS DATE) AS service_date, department_code, extract_date, file_name,
       row_number
FROM staging.procedures;

-- Documented drug administrations (every version), dose in dispensing units.
CREATE OR REPLACE VIEW canonical.med_administration_versions AS
SELECT facility, visit_number, resource_id, status, ndc, dose_value AS quantity,
       CAST(effective_at AS DATE) AS service_date, department_code, extract_date, file_name,
       row_number
FROM staging.med_administrations;

-- Supplies documented in procedural cases.
CREATE OR REPLACE VIEW canonical.case_supply_lines AS
SELECT facility, visit_number, case_id, item_id, quantity, CAST(documented_at AS DATE)
       AS service_date, department_code, implant_flag, extract_date, file_name, row_number
FROM staging.case_supplies;

-- Master data with history: each snapshot is in effect from its extract date until the next one.
CREATE OR REPLACE VIEW canonical.department_map_history AS
WITH snaps AS (
    SELECT extract_date,
           lead(extract_date) OVER (ORDER BY extract_date) AS next_date,
           row_number() OVER (ORDER BY extract_date) AS n
    FROM (SELECT DISTINCT extract_date FROM staging.department_map)
)
SELECT d.source_system, d.source_department_code, d.facility, d.cost_center,
       CASE WHEN s.n = 1 THEN DATE '1900-01-01' ELSE s.extract_date END AS valid_from,
       COALESCE(s.next_date - 1, DATE '9999-12-31')                    AS valid_to,
       d.extract_date
FROM staging.department_map d JOIN snaps s USING (extract_date);

CREATE OR REPLACE VIEW canonical.item_master_history AS
WITH snaps AS (
    SELECT extract_date,
           lead(extract_date) OVER (ORDER BY extract_date) AS next_date,
           row_number() OVER (ORDER BY extract_date) AS n
    FROM (SELECT DISTINCT extract_date FROM staging.item_master)
)
SELECT i.item_id, i.description, i.unit_cost, i.chargeable, i.implant, i.cdm_code, i.status,
       CASE WHEN s.n = 1 THEN DATE '1900-01-01' ELSE s.extract_date END AS valid_from,
       COALESCE(s.next_date - 1, DATE '9999-12-31')                    AS valid_to,
       i.extract_date
FROM staging.item_master i JOIN snaps s USING (extract_date);

-- The chargemaster carries its own price history (effective_from/effective_to, both inclusive).
CREATE OR REPLACE VIEW canonical.chargemaster_rows AS
SELECT cdm_code, description, revenue_code, cpt_hcpcs, ndc, department_code, unit_price,
       gl_revenue_account, effective_from, COALESCE(effective_to, DATE '9999-12-31') AS effective_to,
       status, extract_date
FROM staging.chargemaster;
