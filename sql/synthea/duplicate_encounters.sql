-- Encounter ids that appear more than once in encounters.csv (a visit number must be unique).
SELECT count(*) FROM (SELECT Id FROM syn_encounters GROUP BY Id HAVING count(*) > 1)
