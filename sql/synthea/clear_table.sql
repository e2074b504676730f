-- Empty "{schema}"."{table}" (a table of a previous Synthea load, inside the load's transaction).
DELETE FROM "{schema}"."{table}"
