"""Reusable pandera checks for string columns: ISO dates and timestamps, decimals, codes."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.extensions import register_check_method

DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"


def _registered(name: str) -> bool:
    from pandera.api.checks import Check

    return hasattr(Check, name)


if not _registered("iso_date"):

    @register_check_method(statistics=[])
    def iso_date(series: pd.Series) -> pd.Series:
        """A real calendar date written YYYY-MM-DD."""
        ok = _matches(series, DATE_RE)
        parsed = pd.to_datetime(series.where(ok), format="%Y-%m-%d", errors="coerce")
        return ok & parsed.notna().to_numpy()

    @register_check_method(statistics=[])
    def iso_timestamp(series: pd.Series) -> pd.Series:
        """A real timestamp YYYY-MM-DDTHH:MM[:SS][offset] (local time of the facility)."""
        ok = _matches(series, TIMESTAMP_RE)
        local = series.where(ok).str.replace(r"(Z|[+-]\d{2}:?\d{2})$", "", regex=True)
        parsed = pd.to_datetime(local, format="ISO8601", errors="coerce")
        return ok & parsed.notna().to_numpy()

    @register_check_method(statistics=["scale", "positive"])
    def decimal_text(series: pd.Series, *, scale: int, positive: bool) -> pd.Series:
        """A decimal number with at most `scale` decimals (never parsed as a float)."""
        sign = "" if positive else "-?"
        pattern = rf"^{sign}\d{{1,15}}(\.\d{{1,{scale}}})?$" if scale else rf"^{sign}\d{{1,15}}$"
        ok = _matches(series, pattern)
        if positive:
            ok &= ~_matches(series, r"^0+(\.0+)?$")
        return ok


def _matches(series: pd.Series, pattern: str) -> pd.Series:
    """Plain bool: where the (string) value matches `pattern`; null never matches."""
    return series.str.match(pattern, na=False).astype(bool)


def date_field(nullable: bool = False) -> pa.Field:
    return pa.Field(nullable=nullable, iso_date=())


def timestamp_field(nullable: bool = False) -> pa.Field:
    return pa.Field(nullable=nullable, iso_timestamp=())


def amount_field(nullable: bool = False, positive: bool = False) -> pa.Field:
    return pa.Field(nullable=nullable, decimal_text={"scale": 2, "positive": positive})


def quantity_field(nullable: bool = False) -> pa.Field:
    return pa.Field(nullable=nullable, decimal_text={"scale": 3, "positive": True})


def ordered(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """True where both are present and later >= earlier (ISO strings compare as dates)."""
    both = later.notna() & earlier.notna()
    later_first = later.str.slice(0, 19) >= earlier.str.slice(0, 19)
    return ~both | later_first.fillna(False).astype(bool)


def equals(series: pd.Series, value: str) -> pd.Series:
    """Plain bool: where the value equals `value` (null equals nothing)."""
    return series.eq(value).fillna(False).astype(bool)


def first_occurrence(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    """True for the first row of each key; later rows with the same key are duplicates."""
    return ~df.duplicated(subset=columns, keep="first")
