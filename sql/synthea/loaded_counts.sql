-- What the load wrote to staging: one row, one column per count (the audit's outputs).
SELECT
    (SELECT count(DISTINCT facility) FROM staging.adt_events)     AS facilities,
    (SELECT count(DISTINCT visit_number) FROM staging.adt_events) AS visits,
    (SELECT count(*) FROM staging.adt_events)                     AS adt_events,
    (SELECT count(*) FROM staging.procedures)                     AS documented_items,
    (SELECT count(*) FROM staging.charges)                        AS charge_lines,
    (SELECT count(*) FROM staging.chargemaster)                   AS chargemaster_codes,
    (SELECT count(*) FROM staging.department_map)                 AS department_map_rows
