"""Bad-input corpus: every case is a small landed file with good records around one bad one.

The cases are data: tests/corpus/<feed>/<case>.<ext> (bytes as delivered) plus tests/corpus/cases.toml
(where the file lands, how its control file is written, what must happen). Each case runs in its own
fresh warehouse and landing directory through `load_feed_day` and must end in exactly the expected
quarantine rows (row-level cases: every good record staged) or in one whole-file rejection with a
precise reason and nothing staged (file-level cases), or stay `incomplete` without a control file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from reconcile.config import default_settings
from reconcile.feeds import FEEDS, classify
from reconcile.pipeline import load_feed_day
from reconcile.warehouse import Warehouse

CORPUS = Path(__file__).parent / "corpus"
CASES: list[dict] = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))["case"]
CATEGORIES = {"hl7_malformed", "json_broken", "wrong_type", "impossible_date", "unknown_code", "duplicate",
              "drift", "encoding", "truncated", "control_file", "cross_field", "missing_required"}
CONTROLS = {"correct", "wrong_rows", "wrong_sha", "missing", "raw"}
OUTCOMES = {"loaded", "rejected", "incomplete"}
RUN_ID = "run-corpus"


def case_file(case: dict) -> Path:
    return CORPUS / case["feed"] / f"{case['name']}.{case['landing'].rsplit('.', 1)[1]}"


def record_count(data: bytes, suffix: str) -> int:
    """Records as feeds.md counts them: CSV data rows (header and blank lines excluded, a quoted
    newline does not start one), non-empty NDJSON lines, HL7 messages (MSH segments)."""
    text = data.decode("utf-8-sig", errors="replace")
    if suffix == "csv":
        return max(sum(1 for rec in csv.reader(io.StringIO(text, newline="")) if rec) - 1, 0)
    if suffix == "ndjson":
        return sum(1 for line in text.split("\n") if line.strip())
    return sum(1 for seg in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
               if seg.startswith("MSH"))


def write_landed(root: Path, case: dict) -> Path:
    """Copy the case file to its landing path and write its control file as the case says."""
    data = case_file(case).read_bytes()
    path = root / case["landing"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    rows = case.get("ctl_rows", record_count(data, path.suffix[1:]))
    control = case["control"]
    if control == "missing":
        return path
    if control == "raw":
        text = (case["ctl_text"].replace("{name}", path.name).replace("{rows}", str(rows))
                .replace("{sha256}", sha))
    else:
        if control == "wrong_sha":
            sha = hashlib.sha256(data + b"\n").hexdigest()
        text = json.dumps({"file": path.name, "rows": rows, "sha256": sha}) + "\n"
    path.with_name(path.name + ".ctl").write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def schema_template(tmp_path_factory) -> Path:
    """One freshly created warehouse; each case gets its own copy (DDL once, not 100 times)."""
    path = tmp_path_factory.mktemp("template") / "w.duckdb"
    Warehouse(path).ensure_schema()
    return path


def params() -> list:
    out = []
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if "xfail" in case else []
        out.append(pytest.param(case, id=case["name"], marks=marks))
    return out


@pytest.mark.parametrize("case", params())
def test_bad_input_case(case, tmp_path, schema_template):
    landing = tmp_path / "landing"
    settings = default_settings(landing, tmp_path / "w.duckdb")
    shutil.copyfile(schema_template, settings.warehouse_path)
    warehouse = Warehouse(settings.warehouse_path)
    write_landed(landing, case)
    named = classify(case["landing"])
    assert named is not None and named.feed.name == case["feed"], case["landing"]
    table = f"staging.{FEEDS[case['feed']].staging_table}"

    with warehouse.writer() as con:
        result = load_feed_day(con, settings, case["feed"], named.extract_date, RUN_ID)
        rejected_rows = con.execute(
            'SELECT feed, file_name, row_number, "column", "check", reason, run_id '
            "FROM staging.rejected_rows").fetchall()
        rejected_files = con.execute(
            "SELECT feed, file_name, reason, run_id FROM staging.rejected_files").fetchall()
        staged = con.execute(f"SELECT row_number, file_name, load_run_id FROM {table}").fetchall()
        manifest = con.execute("SELECT outcome FROM ops.file_manifest WHERE file_name = ?",
                               [case["landing"]]).fetchall()
        checked = con.execute(case["check_sql"]).fetchall() if "check_sql" in case else None

    assert [o.relative_path for o in result.outcomes] == [case["landing"]]
    outcome = result.outcomes[0]
    assert outcome.outcome == case["outcome"], outcome.reason
    assert manifest == [(case["outcome"],)]

    if case["outcome"] == "loaded":
        expected = sorted((r[0], r[1] or None, r[2]) for r in case["rejects"])
        assert sorted((row, column, check) for _, _, row, column, check, _, _ in rejected_rows) == expected
        for feed, file_name, _, _, _, reason, run_id in rejected_rows:
            assert (feed, file_name, run_id) == (case["feed"], case["landing"], RUN_ID)
            assert reason and reason.strip()
        for row, column, check, *phrase in case["rejects"]:
            if phrase:
                reasons = [r[5] for r in rejected_rows if (r[2], r[3] or "", r[4]) == (row, column, check)]
                assert any(phrase[0] in reason for reason in reasons), (phrase[0], reasons)
        assert rejected_files == []
        # none of the good rows beside the bad one is lost
        assert sorted(r[0] for r in staged) == sorted(case["good"])
        assert {(r[1], r[2]) for r in staged} <= {(case["landing"], RUN_ID)}
        assert (outcome.rows_loaded, result.rows_loaded) == (len(case["good"]), len(case["good"]))
    else:
        assert staged == [] and rejected_rows == []
        assert outcome.rows_loaded == 0
        if case["outcome"] == "rejected":
            assert case["reason"] in outcome.reason
            assert len(rejected_files) == 1
            feed, file_name, reason, run_id = rejected_files[0]
            assert (feed, file_name, run_id) == (case["feed"], case["landing"], RUN_ID)
            assert case["reason"] in reason
        else:
            assert rejected_files == []

    if "check_sql" in case:
        assert [list(r) for r in checked] == case["check_rows"]


def test_corpus_is_broad_and_well_formed():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 40
    assert {c["feed"] for c in CASES} == set(FEEDS), "every one of the 14 feeds has cases"
    assert {c["category"] for c in CASES} == CATEGORIES
    by_feed = Counter(c["feed"] for c in CASES)
    assert min(by_feed.values()) >= 3, by_feed
    for case in CASES:
        assert case["category"] in CATEGORIES, case["name"]
        assert case["control"] in CONTROLS, case["name"]
        assert case["outcome"] in OUTCOMES, case["name"]
        assert case_file(case).is_file(), case["name"]
        named = classify(case["landing"])
        assert named is not None and named.feed.name == case["feed"], case["name"]
        if case["outcome"] == "loaded":
            assert "rejects" in case and "good" in case, case["name"]
        elif case["outcome"] == "rejected":
            assert case.get("reason"), case["name"]
        else:
            assert case["control"] == "missing", case["name"]
        if case["control"] in ("wrong_rows",):
            assert "ctl_rows" in case, case["name"]
        if case["control"] == "raw":
            assert "ctl_text" in case, case["name"]
    # every case file is in the corpus manifest, and each category really has a bad input in it
    files = {p.relative_to(CORPUS) for p in CORPUS.rglob("*")
             if p.is_file() and p.name not in ("cases.toml", ".gitattributes")}
    assert files == {case_file(c).relative_to(CORPUS) for c in CASES}
    bad = [c for c in CASES if c["outcome"] != "loaded" or c["rejects"]]
    assert {c["category"] for c in bad} == CATEGORIES
    assert len([c for c in bad if "xfail" not in c]) >= 40
