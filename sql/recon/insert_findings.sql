-- Wraps one rule's SELECT (spliced in at the marker below, from sql/rules/<file>) and stores
-- its rows as the findings of evaluation date $as_of. exception_id hashes rule id and business
-- key only, so the same defect keeps its id night after night.
INSERT INTO recon.findings BY NAME
SELECT CAST($as_of AS DATE)                              AS as_of_date,
       md5($rule_id || '|' || r.business_key)            AS exception_id,
       $rule_id                                          AS rule_id,
       $severity                                         AS severity,
       $owner                                            AS owner,
       r.* EXCLUDE (business_key)
FROM (
/*RULE*/
) AS r
