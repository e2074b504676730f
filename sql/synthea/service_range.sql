-- First and last service date of the export, documentation and charges alike.
SELECT min(d), max(d) FROM (
    SELECT CAST(performed_at AS DATE) AS d FROM syn_documented
    UNION ALL SELECT service_date FROM syn_charge_lines)
