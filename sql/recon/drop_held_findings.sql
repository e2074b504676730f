-- A facility held back tonight (its own feed rejected too many rows) is not judged on partial
-- data: its findings of $as_of are dropped, and the lifecycle skips this night for it.
DELETE FROM recon.findings
WHERE as_of_date = $as_of
  AND list_contains(string_split(NULLIF($held_facilities, ''), ','), facility);
