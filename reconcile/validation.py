"""Run a feed's pandera model lazily over a batch and split it into valid rows and rejections."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pandera.pandas as pa

from reconcile.formats.records import LOCATOR, RowIssue, clip

_SENTENCES = {
    "iso_date": "is not a real date written YYYY-MM-DD",
    "iso_timestamp": "is not a real timestamp written YYYY-MM-DDTHH:MM[:SS]",
    "decimal_text": "is not a decimal number of the allowed precision",
    "str_matches": "does not have the expected format",
    "isin": "is not one of the allowed codes",
    "greater_than_or_equal_to": "is below the allowed minimum",
}


@cache
def _row_check_names(model: type[pa.DataFrameModel]) -> dict[str, str]:
    """Error text -> check name of the model's row-level (dataframe) checks."""
    return {str(c.error): str(c.name) for c in model.to_schema().checks}


def validate_batch(frame: pd.DataFrame, model: type[pa.DataFrameModel]
                   ) -> tuple[pd.DataFrame, list[RowIssue], int]:
    """Valid rows (model columns only), one RowIssue per failed check, and the bad row count."""
    columns = list(model.to_schema().columns)
    if frame.empty:
        return frame.reindex(columns=columns), [], 0
    try:
        return model.validate(frame, lazy=True)[columns], [], 0
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    names = _row_check_names(model)
    issues: list[RowIssue] = []
    bad: set[int] = set()
    row_numbers = frame["row_number"]
    locators = frame[LOCATOR] if LOCATOR in frame.columns else None
    row_checks: dict[tuple[int, str], tuple[str, object]] = {}
    for case in cases.itertuples(index=False):
        index = case.index
        if index is None or pd.isna(index):
            raise ValueError(f"schema-level failure {case.check} on column {case.column}")
        index = int(index)
        check = str(case.check)
        value = case.failure_case
        value = None if value is None or pd.isna(value) else value
        if case.schema_context == "DataFrameSchema":
            # row-level (cross-field) check: pandera lists the row's non-null values; report it
            # once, on the column its message names (whose value may be the missing one)
            named = check.partition(":")[0]
            column = named if named in frame.columns else str(case.column)
            if (index, check) not in row_checks or case.column == named:
                row_checks[(index, check)] = (column, value if case.column == named else None)
            continue
        bad.add(index)
        issues.append(_issue(row_numbers, locators, index, check, case.column, value, names))
    for (index, check), (column, value) in row_checks.items():
        bad.add(index)
        issues.append(_issue(row_numbers, locators, index, check, column, value, names))
    valid = frame.drop(index=list(bad))[columns]
    return valid, issues, len(bad)


def _issue(row_numbers: pd.Series, locators: pd.Series | None, index: int, check: str,
           column: object, value: object, names: dict[str, str]) -> RowIssue:
    where = f"{locators.loc[index]}: " if locators is not None else ""
    return RowIssue(
        row_number=int(row_numbers.loc[index]),
        check=names.get(check, _base_name(check)),
        column=str(column) if column is not None else None,
        value=clip(value),
        reason=where + _reason(check, column),
    )


def _base_name(check: str) -> str:
    return check.split("(", 1)[0]


def _reason(check: str, column: object) -> str:
    if check == "not_nullable":
        return f"required field {column} is empty"
    named, sep, message = check.partition(":")
    if sep and "(" not in named:
        return message.strip()
    sentence = _SENTENCES.get(_base_name(check))
    return f"{column} {sentence}" if sentence else f"{column} fails {check}"
