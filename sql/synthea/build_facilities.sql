-- Temp table syn_facilities: organization id -> facility code ($org_ids[i] -> $facilities[i]).
CREATE OR REPLACE TEMP TABLE syn_facilities (org_id VARCHAR, facility VARCHAR);

INSERT INTO syn_facilities
SELECT unnest(CAST($org_ids AS VARCHAR[])), unnest(CAST($facilities AS VARCHAR[]));
