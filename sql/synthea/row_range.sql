-- Rows of a numbered export table, and its first and last row number (1..count when numbered).
SELECT count(*), min(row_number), max(row_number) FROM {table}
