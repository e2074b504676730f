SELECT owner, new_count, new_dollars, open_count, open_dollars, resolved_count, resolved_dollars
FROM report.daily_digest WHERE as_of_date = $as_of ORDER BY open_dollars DESC, owner
