-- Section 3, unbilled revenue accrual at the end of $period by facility, patient class and state.
SELECT facility      AS "Facility",
       patient_class AS "Patient class",
       state         AS "State",
       visits        AS "Visits",
       gross_charges AS "Gross charges"
FROM report.unbilled_accrual
WHERE period = $period
ORDER BY facility <> 'ALL', facility, patient_class <> 'ALL', patient_class, state
