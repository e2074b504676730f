"""Run a feed's pandera model lazily over a batch and split it into valid rows and rejections."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from reconcile.formats.records import RowIssue, clip


def validate_batch(frame: pd.DataFrame, model: type[pa.DataFrameModel]
                   ) -> tuple[pd.DataFrame, list[RowIssue]]:
    """Valid rows (model columns only) and one RowIssue per failed check of each bad row."""
    columns = list(model.to_schema().columns)
    if frame.empty:
        return frame.reindex(columns=columns), []
    try:
        return model.validate(frame, lazy=True)[columns], []
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    issues: list[RowIssue] = []
    bad: set[int] = set()
    row_numbers = frame["row_number"]
    seen: set[tuple[int, str]] = set()
    for case in cases.itertuples(index=False):
        index = case.index
        if index is None or pd.isna(index):
            raise ValueError(f"schema-level failure {case.check} on column {case.column}")
        index = int(index)
        check = str(case.check)
        column = case.column
        if case.schema_context == "DataFrameSchema":
            # row-level (cross-field) check: pandera lists every column; keep the one it names
            named, _, _ = check.partition(":")
            if (index, check) in seen or (named in frame.columns and column != named):
                continue
            seen.add((index, check))
        value = None if case.failure_case is None or pd.isna(case.failure_case) else case.failure_case
        bad.add(index)
        issues.append(RowIssue(
            row_number=int(row_numbers.loc[index]),
            check=_check_name(check),
            column=str(column) if column is not None else None,
            value=clip(value),
            reason=_reason(check, column, value),
        ))
    valid = frame.drop(index=list(bad))[columns]
    return valid, issues


def _check_name(check: str) -> str:
    named, sep, _ = check.partition(":")
    return named.strip() if sep else check


def _reason(check: str, column: object, value: object) -> str:
    if check == "not_nullable":
        return f"required field {column} is empty"
    named, sep, message = check.partition(":")
    if sep:
        return message.strip()
    return f"{column} fails {check}"
