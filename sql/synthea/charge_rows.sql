-- The charge lines of claims_transactions.csv: only TYPE = 'CHARGE' rows are loaded and checked
-- (payments, transfers and adjustments are not charges).
CREATE OR REPLACE TEMP VIEW syn_charge_rows AS
SELECT * FROM syn_claims_transactions WHERE "TYPE" = 'CHARGE'
