"""No patient identifier (MRN, name, birth date) and no secret leaves the pipeline's own warehouse
tables: after the reference run (verbose logging, records quarantined whole with patient data in
them, a secret in the environment) they are absent from its log output, from everything in its
Dagster instance (event log with all asset and check metadata, run storage, captured logs), from
the analyst database, from the warehouse's ops tables, and from the files it published.

The warehouse's staging tables (and the offending values in staging.rejected_rows) do hold them:
that file is the pipeline's own and is never published.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.hardening.conftest import SECRET
from tests.hardening.kit import END, START


def phi_values(landing: Path) -> dict[str, set[str]]:
    """The demo patients' identifiers, read from the PID segments the generator wrote."""
    mrns: set[str] = set()
    names: set[str] = set()
    births: set[str] = set()
    for path in landing.rglob("*.hl7"):
        text = path.read_text(encoding="utf-8").replace("\r\n", "\r").replace("\n", "\r")
        for segment in text.split("\r"):
            if not segment.startswith("PID|"):
                continue
            fields = segment.split("|")
            mrns.add(fields[3].split("^")[0])
            names.update(n for n in fields[5].split("^")[:2] if len(n) >= 3 and "\\" not in n)
            births.add(fields[7])
    business_days = {START.strftime("%Y%m%d"), END.strftime("%Y%m%d")}
    births -= business_days
    assert len(mrns) > 10 and len(names) > 10 and len(births) > 10
    return {"mrn": mrns, "name": names, "birth date": births}


def leak_patterns(values: dict[str, set[str]]) -> list[tuple[str, re.Pattern[str]]]:
    """One regex per kind: MRNs and names as whole words, birth dates as YYYYMMDD or YYYY-MM-DD
    not inside a longer number, the secret anywhere."""
    words = r"(?<![A-Za-z0-9])({})(?![A-Za-z0-9])"
    dates = "|".join(f"{v}|{v[:4]}-{v[4:6]}-{v[6:]}" for v in sorted(values["birth date"]))
    return [
        ("mrn", re.compile(words.format("|".join(map(re.escape, sorted(values["mrn"])))))),
        ("name", re.compile(words.format("|".join(map(re.escape, sorted(values["name"])))))),
        ("birth date", re.compile(rf"(?<![0-9])({dates})(?![0-9])")),
        ("secret", re.compile(re.escape(SECRET))),
    ]


@pytest.fixture(scope="module")
def patterns(reference):
    return leak_patterns(phi_values(reference.site.landing))


def leaks(text: str, patterns) -> list[str]:
    """`kind value` of every identifier found in `text`."""
    return sorted({f"{kind} {m.group(0)}" for kind, regex in patterns
                   for m in regex.finditer(text)})


def table_texts(path: Path, schemas: tuple[str, ...] | None = None) -> dict[str, str]:
    """Every table and view of a DuckDB file (optionally only some schemas) as text."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')").fetchall()
        return {f"{s}.{t}": repr(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall())
                for s, t in names if schemas is None or s in schemas}
    finally:
        con.close()


def kinds(text: str, patterns) -> set[str]:
    return {kind for kind, regex in patterns if regex.search(text)}


def test_the_scan_finds_patient_data_where_it_belongs(reference, patterns):
    """The scan itself works: the warehouse's staging tables hold MRNs, and the quarantined
    message's PID (MRN, name, birth date) is in staging.rejected_rows; so an empty result
    elsewhere means something."""
    staging = table_texts(reference.site.warehouse, ("staging",))
    assert "mrn" in kinds(staging["staging.cabinet_transactions"], patterns)
    assert kinds(staging["staging.rejected_rows"], patterns) >= {"mrn", "name", "birth date"}


def test_no_phi_or_secret_in_the_run_output(reference, patterns):
    assert "INFO" in reference.output  # verbose: every step logged
    assert leaks(reference.output, patterns) == []


def test_no_phi_or_secret_anywhere_in_the_dagster_instance(reference, patterns):
    files = [p for p in reference.site.home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    found = {str(p.relative_to(reference.site.home)): leaks(p.read_bytes().decode("latin-1"),
                                                             patterns) for p in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_no_phi_or_secret_in_dagster_event_metadata(reference, patterns):
    """The same through Dagster's API (metadata as Dagster serializes it, whatever the storage)."""
    import dagster as dg
    from dagster._serdes import serialize_value

    with dg.DagsterInstance.from_config(str(reference.site.home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 3
        texts = []
        for run in runs:
            texts.append(serialize_value(run))
            texts += [serialize_value(e) for e in instance.all_logs(run.run_id)]
    events = "\n".join(texts)
    assert "rows_rejected" in events and "failure_sample" in events  # metadata is in there
    assert leaks(events, patterns) == []


def test_no_phi_or_secret_in_the_analyst_database_or_published_files(reference, patterns):
    tables = table_texts(reference.site.analyst)
    assert "ops.rejections" in tables and "recon.exceptions" in tables
    assert {name: hits for name, text in tables.items() if (hits := leaks(text, patterns))} == {}
    published = [reference.site.folder / "DATA_DICTIONARY.md",
                 *(reference.site.folder / "outputs").rglob("*.md")]
    assert len(published) > 3
    assert {str(p): hits for p in published
            if (hits := leaks(p.read_text(encoding="utf-8"), patterns))} == {}


def test_no_phi_or_secret_in_the_warehouse_ops_tables(reference, patterns):
    tables = table_texts(reference.site.warehouse, ("ops",))
    assert "ops.run_log" in tables and "ops.file_manifest" in tables
    assert {name: hits for name, text in tables.items() if (hits := leaks(text, patterns))} == {}
