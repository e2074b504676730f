-- Documented views of the analyst database (run inside the new file, before it is published).
CREATE OR REPLACE VIEW recon.open_exceptions AS
SELECT * EXCLUDE (status, resolved_at) FROM recon.exceptions WHERE status = 'open';
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
COMMENT ON VIEW recon.open_exceptions IS 'Open exceptions of every rule (recon.exceptions with status open).';
COMMENT ON VIEW recon.queue_department IS 'Work queue of the departments: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_compliance IS 'Work queue of compliance: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_revenue_integrity IS 'Work queue of revenue integrity: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_chargemaster IS 'Work queue of the chargemaster team: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_patient_access IS 'Work queue of patient access: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_integration IS 'Work queue of the integration team: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_supply_chain IS 'Work queue of supply chain: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_pharmacy IS 'Work queue of pharmacy: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_general_ledger IS 'Work queue of the general ledger team: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_patient_accounting IS 'Work queue of patient accounting: open exceptions, largest dollars first, then oldest.';
COMMENT ON VIEW recon.queue_payroll IS 'Work queue of payroll: open exceptions, largest dollars first, then oldest.';
