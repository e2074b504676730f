-- Formatting helpers for the one-sentence `detail` of an exception (display only; amounts stay
-- DECIMAL in every column).
CREATE OR REPLACE MACRO fmt_qty(q) AS regexp_replace(CAST(q AS VARCHAR), '\.?0+$', '');
CREATE OR REPLACE MACRO fmt_money(a) AS '$' || CAST(CAST(a AS DECIMAL(18,2)) AS VARCHAR);
