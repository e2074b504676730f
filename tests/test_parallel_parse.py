"""Parsing large HL7 and NDJSON files in worker processes gives exactly the in-thread results.

The reader's batches (frames and issues) are compared one by one on randomized good and bad
files, cut into tiny ranges and tiny batches; whole loads through `load_landed_file` are
compared table by table (staging rows with their row numbers, quarantine rows, rejected files,
manifest) on the bad-input corpus and on generated files; a worker that raises or is killed
fails the load cleanly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile import parallel_parse as pp
from reconcile.feeds import FEEDS, classify
from reconcile.formats import records
from reconcile.formats.csvfile import HeaderReport
from reconcile.landing import discover
from reconcile.readers import READERS
from reconcile.staging import load_landed_file
from reconcile.warehouse import Warehouse
from tests.test_bad_input_corpus import CASES, write_landed
from tests.test_csv_and_fhir_readers import med_admin, procedure

NOW = dt.datetime(2026, 10, 2, 3, 0, 0)
DAY = dt.date(2026, 10, 1)
STAMP = DAY.strftime("%Y%m%d")
IN_PROCESSES = pp.Settings(workers=2, min_bytes=0, range_bytes=64)


@pytest.fixture(scope="module", autouse=True)
def _pool_stops_after_module():
    yield
    pp.shutdown()


# ---- generated inputs -------------------------------------------------------------------------

def _ft1(i: int, txn: str, service: str = "20261001", post: str = "20261001",
         amount: str = "310.00", cdm: str = "310044^XR CHEST 2 VIEWS^CDM", mods: str = "") -> str:
    return (f"FT1|{i}|{txn}||{service}|{post}|CG|{cdm}|||1|{amount}|{amount}|IMG|||||||"
            f"1962487755|1962487755||ORD55120|{mods}|71046")


MSH = "MSH|^~\\&|EHR|NORTH|CHARTLEDGER|NORTH|202610012300||DFT^P03|{control}|P|2.5.1"
EVN = "EVN|P03|202610012300"
PID = "PID|1||MRN0042111^^^NORTH^MR||RIVERA^ANA||20150304|F||||||||||ACCT88120041"
PV1 = "PV1|1|I|PEDS^212^B^NORTH|||||||PEDS|||||||||C55501"

KINDS = ["good", "good", "good", "good", "no_pv1", "no_ft1", "headless", "short_msh",
         "second_pid", "escapes", "bad_date", "bad_amount", "post_before_service", "blank",
         "envelope"]


@st.composite
def hl7_files(draw) -> bytes:
    """A DFT file: good messages with duplicate transaction ids here and there, and every kind
    of malformed message, with any segment separator, blank lines and batch envelopes."""
    seg_sep = draw(st.sampled_from(["\r", "\n", "\r\n"]))
    msg_sep = draw(st.sampled_from(["", "\n", "\r\n"]))
    txns = draw(st.integers(3, 60))  # a small pool: duplicates within and across batches
    parts: list[list[str]] = []
    if draw(st.booleans()):
        parts.append(["FHS|^~\\&|EHR", "BHS|^~\\&|EHR"])
    for n, kind in enumerate(draw(st.lists(st.sampled_from(KINDS), min_size=0, max_size=40))):
        count = draw(st.integers(1, 4))
        ft1s = [_ft1(i + 1, f"T{draw(st.integers(0, txns))}") for i in range(count)]
        head = [MSH.format(control=f"C{n}"), EVN, PID]
        if kind == "good":
            parts.append([*head, PV1, *ft1s])
        elif kind == "no_pv1":
            parts.append([*head, *ft1s])
        elif kind == "no_ft1":
            parts.append([*head, PV1])
        elif kind == "headless":
            parts.append([EVN, PID, PV1, *ft1s])
        elif kind == "short_msh":
            parts.append(["MSH|^~", PID, PV1, *ft1s])
        elif kind == "second_pid":
            parts.append([*head, PV1, ft1s[0], PID, PV1, *ft1s[1:]])
        elif kind == "escapes":
            parts.append([*head, PV1, _ft1(1, f"T{n}", cdm="31\\T\\0044^XR \\F\\ CHEST^CDM",
                                           mods="26~59&X")])
        elif kind == "bad_date":
            parts.append([*head, PV1, _ft1(1, f"T{n}", service="20261399")])
        elif kind == "bad_amount":
            parts.append([*head, PV1, _ft1(1, f"T{n}", amount="3O.00")])
        elif kind == "post_before_service":
            parts.append([*head, PV1, _ft1(1, f"T{n}", service="20261005", post="20261001")])
        elif kind == "blank":
            parts.append(["", "   "])
        else:
            parts.append(["BTS|1", "BHS|^~\\&|EHR"])
    if parts and draw(st.booleans()):
        parts.append(["BTS|9", "FTS|1"])
    text = "".join(seg_sep.join(p) + seg_sep + msg_sep for p in parts)
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode()


@st.composite
def ndjson_files(draw) -> tuple[str, bytes]:
    feed = draw(st.sampled_from(["procedures", "med_administrations"]))
    make = procedure if feed == "procedures" else med_admin
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    ids = draw(st.integers(2, 40))
    lines = []
    for kind in draw(st.lists(st.sampled_from(["good"] * 5 + ["broken", "array", "blank",
                                                               "wrong_type", "unresolved",
                                                               "bad_date", "spaces"]),
                              max_size=50)):
        rid = f"r{draw(st.integers(0, ids))}"
        if kind == "good":
            lines.append(json.dumps(make(rid)))
        elif kind == "broken":
            lines.append("{'resourceType': 'Procedure'")
        elif kind == "array":
            lines.append("[1, 2]")
        elif kind == "blank":
            lines.append("")
        elif kind == "spaces":
            lines.append("   \t")
        elif kind == "wrong_type":
            lines.append(json.dumps({"resourceType": "Patient", "id": rid}))
        elif kind == "unresolved":
            ref = {"reference": "Encounter/e404"}
            lines.append(json.dumps(make(rid, **{"encounter" if feed == "procedures"
                                                 else "context": ref})))
        else:
            key = "performedDateTime" if feed == "procedures" else "effectiveDateTime"
            lines.append(json.dumps(make(rid, **{key: "2026-02-30T10:00:00"})))
    text = "".join(line + eol for line in lines)
    if lines and draw(st.booleans()):
        text = text[: -len(eol)]  # no newline after the last line
    return feed, text.encode()


def assert_same_batches(feed: str, path: Path, s: pp.Settings = IN_PROCESSES) -> None:
    expected = list(READERS[feed](path, HeaderReport(), None))
    got = list(pp.read_batches(feed, path, HeaderReport(), None, s))
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(mine.frame, theirs.frame)
        assert mine.issues == theirs.issues


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=hl7_files(), batch_rows=st.integers(1, 12), range_bytes=st.integers(1, 400),
       feed=st.sampled_from(["charges", "adt"]))
def test_hl7_batches_are_the_in_thread_readers(tmp_path, data, batch_rows, range_bytes, feed):
    path = tmp_path / "DFT_NORTH_20261001.hl7"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(records, "BATCH_ROWS", batch_rows)
        assert_same_batches(feed, path, pp.Settings(2, 0, range_bytes))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=ndjson_files(), batch_rows=st.integers(1, 12), range_bytes=st.integers(1, 600))
def test_ndjson_batches_are_the_in_thread_readers(tmp_path, generated, batch_rows, range_bytes):
    feed, data = generated
    path = tmp_path / "Procedure_20261001.ndjson"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(records, "BATCH_ROWS", batch_rows)
        assert_same_batches(feed, path, pp.Settings(2, 0, range_bytes))


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_ranges_start_at_msh_segments_and_cover_the_file(tmp_path, sep):
    msg = sep.join([MSH.format(control="C1"), EVN, PID, PV1, _ft1(1, "T1")]) + sep
    data = ("FHS|^~\\&" + sep + msg * 50 + "FTS|1" + sep).encode()
    path = tmp_path / "f.hl7"
    path.write_bytes(data)
    spans = pp.split(path, "hl7", 100)
    assert spans[0][0] == 0 and spans[-1][1] == len(data) and len(spans) == 50
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(data[start:start + 3] == b"MSH" and data[start - 1:start] in (b"\r", b"\n")
               for start, _ in spans[1:])


def test_ndjson_ranges_start_at_lines(tmp_path):
    data = b"".join(json.dumps(procedure(f"p{i}")).encode() + b"\n" for i in range(30))
    path = tmp_path / "p.ndjson"
    path.write_bytes(data)
    spans = pp.split(path, "ndjson", 700)
    assert len(spans) > 3 and spans[-1][1] == len(data)
    assert all(data[start - 1:start] == b"\n" for start, _ in spans[1:])


# ---- whole loads ------------------------------------------------------------------------------

def snapshot(con, feed: str) -> dict[str, list]:
    table = f"staging.{FEEDS[feed].staging_table}"
    out = {"staging": con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()}
    for name in ("rejected_rows", "rejected_files"):  # rows in insertion order
        out[name] = con.execute(f"SELECT * FROM staging.{name}").fetchall()
    out["manifest"] = con.execute("SELECT * FROM ops.file_manifest ORDER BY ALL").fetchall()
    return out


def load_both_ways(tmp_path: Path, landing: Path, feed: str, monkeypatch) -> tuple[dict, dict, list]:
    """Load the day's files of `feed` once in-thread and once in worker processes, each into a
    fresh warehouse; both snapshots and the outcomes."""
    results, outcomes = [], []
    for label, workers in (("thread", "0"), ("processes", "2")):
        monkeypatch.setenv(pp.ENV_WORKERS, workers)
        monkeypatch.setenv(pp.ENV_MIN_BYTES, "0")
        monkeypatch.setenv(pp.ENV_RANGE_BYTES, "97")
        warehouse = Warehouse(tmp_path / f"{label}.duckdb")
        warehouse.ensure_schema()
        with warehouse.writer() as con:
            files = discover(landing, DAY, [feed])
            outs = [load_landed_file(con, f, "run-1", NOW) for f in files]
            results.append(snapshot(con, feed))
        outcomes.append([(o.outcome, o.rows_loaded, o.rows_rejected, o.reason) for o in outs])
    assert outcomes[0] == outcomes[1]
    return results[0], results[1], outcomes[0]


CORPUS_CASES = [c for c in CASES if c["feed"] in pp.KINDS and c["control"] != "missing"]


@pytest.mark.parametrize("case", CORPUS_CASES, ids=[c["name"] for c in CORPUS_CASES])
def test_corpus_case_loads_the_same_in_processes(case, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    write_landed(landing, case)
    named = classify(case["landing"])
    assert named is not None
    results = []
    for label, workers in (("thread", "0"), ("processes", "2")):
        monkeypatch.setenv(pp.ENV_WORKERS, workers)
        monkeypatch.setenv(pp.ENV_MIN_BYTES, "0")
        monkeypatch.setenv(pp.ENV_RANGE_BYTES, "97")
        warehouse = Warehouse(tmp_path / f"{label}.duckdb")
        warehouse.ensure_schema()
        with warehouse.writer() as con:
            files = discover(landing, named.extract_date, [case["feed"]])
            outs = [load_landed_file(con, f, "run-1", NOW) for f in files]
            results.append(([(o.outcome, o.rows_loaded, o.rows_rejected, o.reason) for o in outs],
                            snapshot(con, case["feed"])))
    assert results[0] == results[1]
    assert results[0][0][0][0] == case["outcome"]


def _write(landing: Path, relative: str, data: bytes, rows: int) -> Path:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    control = {"file": path.name, "rows": rows, "sha256": sha}
    path.with_name(path.name + ".ctl").write_text(json.dumps(control) + "\n")
    return path


def _hl7_records(data: bytes) -> int:
    text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    return sum(1 for seg in text.split("\n") if seg.startswith("MSH"))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=hl7_files(), batch_rows=st.integers(1, 9), miscount=st.booleans())
def test_charges_loads_are_the_same_in_processes(tmp_path_factory, data, batch_rows, miscount):
    tmp = tmp_path_factory.mktemp("load")
    landing = tmp / "landing"
    rows = _hl7_records(data) + (1 if miscount else 0)
    _write(landing, f"ehr/charges/DFT_NORTH_{STAMP}.hl7", data, rows)
    results = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(records, "BATCH_ROWS", batch_rows)
        for label, workers in (("thread", "0"), ("processes", "2")):
            mp.setenv(pp.ENV_WORKERS, workers)
            mp.setenv(pp.ENV_MIN_BYTES, "0")
            mp.setenv(pp.ENV_RANGE_BYTES, "150")
            warehouse = Warehouse(tmp / f"{label}.duckdb")
            warehouse.ensure_schema()
            with warehouse.writer() as con:
                (landed,) = discover(landing, DAY, ["charges"])
                out = load_landed_file(con, landed, "run-1", NOW)
                results.append(((out.outcome, out.rows_loaded, out.rows_rejected, out.reason),
                                snapshot(con, "charges")))
    assert results[0] == results[1]


def _big_dft(landing: Path, messages: int = 400) -> Path:
    parts = []
    for n in range(messages):
        parts.append("\r".join([MSH.format(control=f"C{n}"), EVN, PID, PV1,
                                _ft1(1, f"T{n}"), _ft1(2, f"T{n}b")]) + "\n")
    data = "".join(parts).encode()
    return _write(landing, f"ehr/charges/DFT_NORTH_{STAMP}.hl7", data, messages)


def _load_in_processes(tmp_path: Path, monkeypatch, label: str):
    monkeypatch.setenv(pp.ENV_WORKERS, "2")
    monkeypatch.setenv(pp.ENV_MIN_BYTES, "0")
    monkeypatch.setenv(pp.ENV_RANGE_BYTES, "2000")
    warehouse = Warehouse(tmp_path / f"{label}.duckdb")
    warehouse.ensure_schema()
    return warehouse


def test_a_killed_worker_fails_the_load_and_leaves_nothing_half_loaded(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    _big_dft(landing)
    warehouse = _load_in_processes(tmp_path, monkeypatch, "w")
    monkeypatch.setattr(records, "BATCH_ROWS", 50)  # batches are inserted before the kill
    monkeypatch.setitem(pp.FAULTS, 5, "kill")
    with warehouse.writer() as con:
        (landed,) = discover(landing, DAY, ["charges"])
        with pytest.raises(pp.ParseWorkerDied, match="charges file DFT_NORTH_20261001.hl7"):
            load_landed_file(con, landed, "run-1", NOW)
        assert con.execute("SELECT count(*) FROM staging.charges").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM staging.rejected_rows").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM ops.file_manifest").fetchone() == (0,)
        # the pool is replaced: the next load of the same file works
        monkeypatch.delitem(pp.FAULTS, 5)
        out = load_landed_file(con, landed, "run-2", NOW)
        assert (out.outcome, out.rows_loaded) == ("loaded", 800)
        assert con.execute("SELECT count(DISTINCT row_number), max(row_number) "
                           "FROM staging.charges").fetchone() == (400, 400)


def test_an_error_in_a_worker_names_the_feed_file_and_records(tmp_path, monkeypatch, caplog):
    landing = tmp_path / "landing"
    _big_dft(landing)
    warehouse = _load_in_processes(tmp_path, monkeypatch, "w")
    monkeypatch.setitem(pp.FAULTS, 3, "raise")
    caplog.set_level(logging.INFO)
    with warehouse.writer() as con:
        (landed,) = discover(landing, DAY, ["charges"])
        with pytest.raises(KeyError, match="FT1-7") as raised:
            load_landed_file(con, landed, "run-1", NOW)
        notes = " ".join(getattr(raised.value, "__notes__", []))
        assert "charges file DFT_NORTH_20261001.hl7" in notes and "records after" in notes
        assert con.execute("SELECT count(*) FROM staging.charges").fetchone() == (0,)
    # logs carry the file name and counts, never a value of the file
    assert "MRN0042111" not in caplog.text and "RIVERA" not in caplog.text
    assert "DFT_NORTH_20261001.hl7" in caplog.text


def test_small_files_stay_in_thread(tmp_path, monkeypatch):
    path = tmp_path / "f.hl7"
    path.write_text(MSH.format(control="C1") + "\r" + PV1 + "\r" + _ft1(1, "T") + "\n")
    settings_ = pp.Settings(workers=2, min_bytes=1 << 20, range_bytes=64)
    assert not pp.uses_processes("charges", path, settings_)
    assert not pp.uses_processes("cabinet_transactions", path, pp.Settings(2, 0, 64))
    assert pp.uses_processes("charges", path, pp.Settings(2, 0, 64))
    assert not pp.uses_processes("charges", path, pp.Settings(0, 0, 64))


def test_many_files_share_the_warm_pool(tmp_path):
    assert pp.warm(IN_PROCESSES)
    pool = pp._pool(2)
    for n in range(3):
        path = tmp_path / f"f{n}.hl7"
        path.write_text("".join(MSH.format(control=f"C{n}{i}") + "\r" + PV1 + "\r"
                                + _ft1(1, f"T{i}") + "\n" for i in range(20)))
        assert_same_batches("charges", path)
    assert pp._pool(2) is pool


def test_a_corpus_file_copied_many_times_loads_the_same(tmp_path, monkeypatch):
    """A larger malformed file: every corpus DFT case's records, one after another."""
    landing = tmp_path / "landing"
    cases = [c for c in CASES if c["feed"] == "charges" and "utf16" not in c["name"]]
    data = b"".join((Path(__file__).parent / "corpus" / "charges" / f"{c['name']}.hl7").read_bytes()
                    for c in cases)
    data = data.replace(b"\xef\xbb\xbf", b"")
    _write(landing, f"ehr/charges/DFT_NORTH_{STAMP}.hl7", data * 5, _hl7_records(data * 5))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(records, "BATCH_ROWS", 7)
        thread, processes, outcomes = load_both_ways(tmp_path, landing, "charges", monkeypatch)
    assert thread == processes
    assert outcomes[0][0] in ("loaded", "rejected")
    shutil.rmtree(landing)


def test_at_most_two_ranges_per_worker_are_in_flight(tmp_path, monkeypatch):
    path = _big_dft(tmp_path / "landing")
    pool = pp._pool(2)
    assert pool is not None
    submitted: list[int] = []

    class Spy:
        def submit(self, fn, *args):
            submitted.append(args[2])  # the range's first byte
            return pool.submit(fn, *args)

    monkeypatch.setattr(pp, "_pool", lambda workers: Spy())
    monkeypatch.setattr(records, "BATCH_ROWS", 2)  # the first batch is the first message
    stream = pp.read_batches("charges", path, HeaderReport(), None, pp.Settings(2, 0, 64))
    first = next(stream)
    assert first.frame["row_number"].tolist() == [1, 1]
    assert len(pp.split(path, "hl7", 64)) == 400 and len(submitted) == 2 * pp.RANGES_PER_WORKER
    stream.close()
