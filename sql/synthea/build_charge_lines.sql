-- Temp table syn_charge_lines: the charge lines with their service date (UTC date of FROMDATE)
-- and facility (PLACEOFSERVICE's, else the encounter organization's, else $unknown_facility).
CREATE OR REPLACE TEMP TABLE syn_charge_lines AS
SELECT c.*, CAST(syn_ts(c.FROMDATE) AS DATE) AS service_date,
       COALESCE(fp.facility, fe.facility, $unknown_facility) AS facility
FROM syn_charge_rows c
LEFT JOIN syn_facilities fp ON fp.org_id = c.PLACEOFSERVICE
LEFT JOIN syn_encounters e ON e.Id = c.APPOINTMENTID
LEFT JOIN syn_facilities fe ON fe.org_id = e.ORGANIZATION
