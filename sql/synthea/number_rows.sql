-- Copy a freshly read file ({source}) into {table} with its 1-based data row number.
-- Run outside any transaction: there rowid + 1 is the file's data row number (inside one,
-- uncommitted rows get transaction-local row ids).
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT rowid + 1 AS row_number, * FROM {source}
