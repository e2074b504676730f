"""Synthea as a source: the reference export reconciles clean, and defects made in a copy of it
(CHARGE lines deleted or duplicated) are found exactly. Expected keys and counts are computed here
from the CSV files with the csv module, independently of the adapter's DuckDB reading."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import uuid
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from reconcile.cli import main
from reconcile.synthea import SYNTHEA_RULES, SyntheaError, reconcile_synthea, run_synthea

SOURCE = Path(os.environ.get(
    "CHARTLEDGER_SYNTHEA_DIR",
    Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "synthea-27"))

pytestmark = pytest.mark.skipif(not (SOURCE / "claims_transactions.csv").is_file(),
                                reason=f"Synthea reference export not found at {SOURCE}")

DOCUMENTED = {"encounters": ("Id", "START"), "procedures": ("ENCOUNTER", "START"),
              "medications": ("ENCOUNTER", "START"), "immunizations": ("ENCOUNTER", "DATE")}


def read_rows(folder: Path, name: str) -> tuple[list[str], list[dict[str, str]]]:
    with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_rows(folder: Path, name: str, header: list[str], rows: list[dict[str, str]]) -> None:
    with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def charge_key(row: dict[str, str]) -> tuple[str, str, dt.date]:
    """(visit, CDM code, service date): the UTC date part of FROMDATE."""
    return row["APPOINTMENTID"], row["PROCEDURECODE"], dt.date.fromisoformat(row["FROMDATE"][:10])


def documented_keys(folder: Path) -> dict[str, set[tuple[str, str, dt.date]]]:
    out = {}
    for name, (visit, when) in DOCUMENTED.items():
        _, rows = read_rows(folder, name)
        out[name] = {(r[visit], r["CODE"], dt.date.fromisoformat(r[when][:10])) for r in rows}
    return out


def charge_lines(folder: Path) -> tuple[list[str], list[dict[str, str]], list[dict[str, str]]]:
    header, rows = read_rows(folder, "claims_transactions")
    return header, rows, [r for r in rows if r["TYPE"] == "CHARGE"]


def pick_lines(charges: list[dict[str, str]], folder: Path) -> list[dict[str, str]]:
    """CHARGE lines that are alone on their key: one charging each kind of documented item, one
    with a zero amount, one whose code is charged nowhere else in the export."""
    per_key = Counter(charge_key(r) for r in charges)
    per_code = Counter(r["PROCEDURECODE"] for r in charges)
    single = [r for r in charges if per_key[charge_key(r)] == 1]
    kinds = documented_keys(folder)
    tests = [lambda r, keys=keys: charge_key(r) in keys for keys in kinds.values()]
    tests += [lambda r: r["AMOUNT"] == "0.00", lambda r: per_code[r["PROCEDURECODE"]] == 1]
    picked: list[dict[str, str]] = []
    for test in tests:
        row = next(r for r in single if test(r) and r not in picked)
        picked.append(row)
    return picked


def multi_line_key(charges: list[dict[str, str]]) -> tuple[str, str, dt.date] | None:
    """A key charged by more than one CHARGE line (two orders documented alike), if any."""
    counts = Counter(charge_key(r) for r in charges)
    return next((k for k, n in sorted(counts.items()) if n > 1), None)


def open_exceptions(warehouse: Path) -> set[tuple[str, str, str, dt.date]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return set(con.execute(
            "SELECT rule_id, visit_number, cdm_code, service_date FROM recon.exceptions "
            "WHERE status = 'open'").fetchall())


@pytest.fixture()
def export_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "synthea"
    shutil.copytree(SOURCE, folder)
    return folder


def test_the_export_as_given_reconciles_with_no_exception(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    result = run_synthea(SOURCE, warehouse)
    assert result.open_by_rule == dict.fromkeys(SYNTHEA_RULES, 0)
    assert result.found == dict.fromkeys(SYNTHEA_RULES, 0)

    _, encounters = read_rows(SOURCE, "encounters")
    documented = sum(len(read_rows(SOURCE, name)[1]) for name in DOCUMENTED)
    _, all_lines, charges = charge_lines(SOURCE)
    keys = {charge_key(r) for r in charges}
    assert (result.visits, result.documented_items, result.charge_lines) == (
        len(encounters), documented, len(charges))
    # the whole range was judged in one evaluation, past every charge window
    first = min(dt.date.fromisoformat(r["START"][:10]) for r in encounters)
    last = max(k[2] for k in keys)
    assert (result.first_service_date, result.last_service_date) == (first, last)
    assert result.load_date == last + dt.timedelta(days=4)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        def one(sql: str) -> object:
            return con.execute(sql).fetchone()[0]

        assert one("SELECT count(*) FROM recon.exceptions") == 0
        assert one("SELECT count(DISTINCT visit_number) FROM staging.adt_events") == len(encounters)
        assert one("SELECT count(*) FROM staging.procedures") == documented
        assert one("SELECT count(*) FROM staging.charges") == len(charges)
        # every key of the export was compared, and every one matched
        assert con.execute("SELECT match_status, count(*) FROM recon.charge_matches "
                           "GROUP BY 1").fetchall() == [("matched", len(keys))]
        # lineage: the row number of a charge is its data row in claims_transactions.csv
        lineage = set(con.execute(
            "SELECT row_number, transaction_id, extended_amount::VARCHAR FROM staging.charges "
            "WHERE file_name = 'claims_transactions.csv'").fetchall())
    assert lineage == {(i, r["ID"], r["AMOUNT"]) for i, r in enumerate(all_lines, start=1)
                       if r["TYPE"] == "CHARGE"}


def test_deleted_charge_lines_are_reported_missing_exactly(tmp_path, export_copy):
    header, all_lines, charges = charge_lines(export_copy)
    deleted = pick_lines(charges, export_copy)
    split_key = multi_line_key(charges)
    removed = {r["ID"] for r in deleted}
    if split_key:  # one of two lines of a key charged twice: a quantity short, not missing
        removed.add(next(r["ID"] for r in charges if charge_key(r) == split_key))
    write_rows(export_copy, "claims_transactions", header,
               [r for r in all_lines if r["ID"] not in removed])

    counts = reconcile_synthea(export_copy, tmp_path / "w.duckdb")

    expected = {("MISSING_CHARGE", *charge_key(r)) for r in deleted}
    if split_key:
        expected.add(("CHARGE_QTY_MISMATCH", *split_key))
    assert len(expected) == len(removed)
    assert open_exceptions(tmp_path / "w.duckdb") == expected
    assert counts == {**dict.fromkeys(SYNTHEA_RULES, 0), "MISSING_CHARGE": len(deleted),
                      "CHARGE_QTY_MISMATCH": 1 if split_key else 0}


def test_duplicated_charge_lines_are_reported_duplicate_exactly(tmp_path, export_copy):
    header, all_lines, charges = charge_lines(export_copy)
    copied = pick_lines(charges, export_copy)
    split_key = multi_line_key(charges)
    if split_key:  # its two lines differ in amount; a copy of one of them is a duplicate
        copied.append(next(r for r in charges if charge_key(r) == split_key))
    copies = [{**r, "ID": str(uuid.uuid5(uuid.NAMESPACE_URL, "copy-of-" + r["ID"]))} for r in copied]
    write_rows(export_copy, "claims_transactions", header, all_lines + copies)

    counts = reconcile_synthea(export_copy, tmp_path / "w.duckdb")

    expected = {("DUPLICATE_CHARGE", *charge_key(r)) for r in copied}
    assert len(expected) == len(copied)
    # duplicates are counted once when quantities are compared: no quantity mismatch besides
    assert open_exceptions(tmp_path / "w.duckdb") == expected
    assert counts == {**dict.fromkeys(SYNTHEA_RULES, 0), "DUPLICATE_CHARGE": len(copied)}


def test_cli_reconciles_replaces_its_own_load_and_refuses_other_warehouses(tmp_path, capsys):
    warehouse = tmp_path / "w.duckdb"
    argv = ["synthea", str(SOURCE), "--warehouse", str(warehouse)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "loaded 604 visits, 1545 documented items and 1545 charge lines" in out
    for rule_id in SYNTHEA_RULES:
        assert f"  {rule_id}" in out and out.split(f"  {rule_id}")[1].split()[0] == "0"

    assert main(argv) == 0  # a previous Synthea load is replaced, not added to
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.charges").fetchone()[0] == 1545
        assert con.execute("SELECT count(*) FROM ops.run_log WHERE step = 'synthea'"
                           ).fetchone()[0] == 2

    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE notes AS SELECT 'keep me' AS note")
    capsys.readouterr()
    assert main(["synthea", str(SOURCE), "--warehouse", str(other)]) == 2
    assert "holds data other than a Synthea load" in capsys.readouterr().err
    with duckdb.connect(str(other), read_only=True) as con:
        assert con.execute("SELECT note FROM notes").fetchall() == [("keep me",)]
        assert con.execute("SELECT count(*) FROM information_schema.schemata "
                           "WHERE schema_name = 'staging'").fetchone()[0] == 0


def test_an_unreadable_charge_refuses_the_export_and_keeps_the_previous_load(tmp_path,
                                                                             export_copy):
    warehouse = tmp_path / "w.duckdb"
    run_synthea(SOURCE, warehouse)
    header, all_lines, charges = charge_lines(export_copy)
    charges[3]["AMOUNT"] = "12.345"  # sub-cent: never rounded silently
    charges[7]["FROMDATE"] = "07/01/2020"
    write_rows(export_copy, "claims_transactions", header, all_lines)
    row_of = {r["ID"]: i for i, r in enumerate(all_lines, start=1)}
    with pytest.raises(SyntheaError) as caught:
        run_synthea(export_copy, warehouse)
    message = str(caught.value)
    assert f"claims_transactions.csv AMOUNT: 1 row(s) unreadable or empty (data rows " \
           f"{row_of[charges[3]['ID']]}" in message
    assert f"claims_transactions.csv FROMDATE: 1 row(s) unreadable or empty (data rows " \
           f"{row_of[charges[7]['ID']]}" in message
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.charges").fetchone()[0] == len(charges)
