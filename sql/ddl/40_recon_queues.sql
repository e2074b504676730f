-- Work queues: the open exceptions of one owner, largest dollars first, then oldest.
CREATE OR REPLACE VIEW recon.open_exceptions AS
SELECT exception_id, rule_id, severity, owner, facility, department_code, cost_center,
       natural_account, visit_number, cdm_code, item_or_ndc, service_date, expected_qty,
       actual_qty, expected_amount, actual_amount, amount_impact, detail, source_refs,
       first_seen_run, last_seen_run, age_days
FROM recon.exceptions
WHERE status = 'open';

CREATE OR REPLACE VIEW recon.queue_department AS
SELECT * FROM recon.open_exceptions WHERE owner = 'department'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_compliance AS
SELECT * FROM recon.open_exceptions WHERE owner = 'compliance'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_revenue_integrity AS
SELECT * FROM recon.open_exceptions WHERE owner = 'revenue integrity'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_chargemaster AS
SELECT * FROM recon.open_exceptions WHERE owner = 'chargemaster'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_patient_access AS
SELECT * FROM recon.open_exceptions WHERE owner = 'patient access'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_integration AS
SELECT * FROM recon.open_exceptions WHERE owner = 'integration'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_supply_chain AS
SELECT * FROM recon.open_exceptions WHERE owner = 'supply chain'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_pharmacy AS
SELECT * FROM recon.open_exceptions WHERE owner = 'pharmacy'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_general_ledger AS
SELECT * FROM recon.open_exceptions WHERE owner = 'general ledger'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_patient_accounting AS
SELECT * FROM recon.open_exceptions WHERE owner = 'patient accounting'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
CREATE OR REPLACE VIEW recon.queue_payroll AS
SELECT * FROM recon.open_exceptions WHERE owner = 'payroll'
ORDER BY amount_impact DESC NULLS LAST, age_days DESC, exception_id;
