-- Carry a table the landing archive cannot reproduce (the audit trail, channel state, close
-- packages) from the replaced warehouse, attached read-only as `previous`, into the rebuilt one.
-- {schema} and {table} come from reconcile/rebuild.py's CARRIED_OVER, never from input.
INSERT INTO {schema}.{table} BY NAME SELECT * FROM previous.{schema}.{table}
