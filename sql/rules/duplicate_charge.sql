-- DUPLICATE_CHARGE: two or more live CG lines (not reversed by a credit) with different
-- transaction ids but identical visit, CDM code, service date, quantity, amount, modifiers and
-- performing provider. Keys: facility, visit, CDM code, service date.
-- Dollars: the extra lines' amount. Owner: revenue integrity.
SELECT g.facility, min(g.department_code) AS department_code, min(k.cost_center) AS cost_center,
       min(k.natural_account) AS natural_account, g.visit_number, g.cdm_code,
       NULL AS item_or_ndc, g.service_date, g.service_date AS scope_date,
       min(k.expected_qty) AS expected_qty, sum(g.live_lines * g.quantity) AS actual_qty,
       NULL AS expected_amount, sum(g.live_lines * g.extended_amount) AS actual_amount,
       sum((g.live_lines - 1) * g.extended_amount) AS amount_impact,
       format('Code {} on visit {} for {} was posted {} times with identical quantity, amount and '
              || 'provider ({} overcharged).', g.cdm_code, g.visit_number,
              strftime(g.service_date, '%Y-%m-%d'), max(g.live_lines),
              fmt_money(sum((g.live_lines - 1) * g.extended_amount))) AS detail,
       string_agg(g.refs, ' ' ORDER BY g.refs) AS source_refs,
       concat_ws('|', g.facility, g.visit_number, g.cdm_code, g.service_date) AS business_key
FROM charge_duplicate_groups g
JOIN charge_keys k
  ON k.facility = g.facility AND k.visit_number = g.visit_number
 AND k.cdm_code = g.cdm_code AND k.service_date = g.service_date
WHERE g.live_lines > 1 AND NOT (k.unknown_cdm OR k.unknown_visit OR k.unmapped_department)
GROUP BY g.facility, g.visit_number, g.cdm_code, g.service_date
