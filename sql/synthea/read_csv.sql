-- Read one export file ($path, bound) as text, every column VARCHAR, into temp table {table}.
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT * FROM read_csv($path, header = true, all_varchar = true,
                       delim = ',', quote = '"', escape = '"')
