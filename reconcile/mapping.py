"""Site mappings: how a site's own layout maps onto a reference feed, set in configuration.

A site whose extract differs from feeds.md renames columns, translates code values and names
the date formats it writes, in `[feeds.<feed>]` of its configuration file, instead of code:

    [feeds.cabinet_transactions.columns]     # site header = reference column
    TxnNo = "txn_id"
    [feeds.cabinet_transactions.codes.txn_type]
    VEND = "V"
    [feeds.cabinet_transactions.formats]     # strptime format of a date or timestamp column
    txn_at = "%m/%d/%Y %H:%M"
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reconcile.config import ConfigError
from reconcile.formats.records import TEXT


@dataclass(frozen=True)
class SiteMapping:
    """Column renames (site -> reference), code maps per column, strptime formats per column."""

    columns: Mapping[str, str] = field(default_factory=dict)
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.columns or self.codes or self.formats)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Translate code values and rewrite dates into ISO form; unknown values pass unchanged
        (validation then rejects them with the site's own value in the quarantine)."""
        for column, table in self.codes.items():
            if column in frame.columns:
                frame[column] = _text(frame[column].map(lambda v, t=table: t.get(v, v) if v else v,
                                                        na_action="ignore"))
        for column, fmt in self.formats.items():
            if column in frame.columns:
                frame[column] = _text(frame[column].map(lambda v, f=fmt: _iso(v, f),
                                                        na_action="ignore"))
        return frame


def _text(column: pd.Series) -> pd.Series:
    """Back to the readers' Arrow-backed string dtype (records.TEXT) after a `map`."""
    return column.astype(TEXT)


def _iso(value: Any, fmt: str) -> Any:
    if value is None:
        return None
    try:
        parsed = dt.datetime.strptime(str(value), fmt)
    except ValueError:
        return value
    has_time = any(code in fmt for code in ("%H", "%I", "%M", "%S"))
    return parsed.isoformat(timespec="seconds") if has_time else parsed.date().isoformat()


def mapping_from_options(feed: str, options: Mapping[str, Any],
                         reference_columns: list[str] | None) -> SiteMapping:
    """Build and check a feed's mapping from its configuration options."""
    columns = dict(options.get("columns", {}))
    codes = {k: dict(v) for k, v in options.get("codes", {}).items()}
    formats = dict(options.get("formats", {}))
    known = set(reference_columns or [])
    for where, names in (("columns", columns.values()), ("codes", codes), ("formats", formats)):
        unknown = [n for n in names if known and n not in known]
        if unknown:
            raise ConfigError(f"[feeds.{feed}.{where}] names unknown column(s) "
                              f"{', '.join(sorted(unknown))} of feed {feed}")
    for column, fmt in formats.items():
        if "%" not in str(fmt):
            raise ConfigError(f"[feeds.{feed}.formats] {column} = {fmt!r} is not a strptime format")
    return SiteMapping(columns=columns, codes=codes, formats=formats)
