-- As insert_findings.sql, for a rule whose SELECT sets each row's `severity` itself.
INSERT INTO recon.findings BY NAME
SELECT CAST($as_of AS DATE)                              AS as_of_date,
       md5($rule_id || '|' || r.business_key)            AS exception_id,
       $rule_id                                          AS rule_id,
       COALESCE(r.severity, $severity)                   AS severity,
       $owner                                            AS owner,
       r.* EXCLUDE (business_key, severity)
FROM (
/*RULE*/
) AS r
