-- Comments on the analyst database's views; the views themselves are sql/ddl/40_recon_queues.sql,
-- run in the new file first (the same work queues as in the warehouse).
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
