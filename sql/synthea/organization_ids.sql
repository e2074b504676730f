-- Every organization id the export refers to: organizations, encounters' ORGANIZATION and
-- charges' PLACEOFSERVICE (each becomes a facility).
SELECT Id FROM syn_organizations WHERE Id IS NOT NULL
UNION SELECT ORGANIZATION FROM syn_encounters WHERE ORGANIZATION IS NOT NULL
UNION SELECT PLACEOFSERVICE FROM syn_charge_rows WHERE PLACEOFSERVICE IS NOT NULL
ORDER BY 1
