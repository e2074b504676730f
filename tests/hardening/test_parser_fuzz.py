"""Property-based and fuzz tests of the parsers, through the real load into staging.

For random HL7 v2 messages, CSV rows and NDJSON items (FHIR resources and API items), valid and
mutated: the load never raises and never hangs (each example has PARSE_TIMEOUT_S), and every
record of the file ends in staging or in the quarantine with a reason (count in = count out);
when the control file's count is wrong the whole file is rejected with a reason instead.
"""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.warehouse import apply_ddl
from tests.hardening.fuzz_kit import (
    CSV_FEEDS,
    HL7_FEEDS,
    JSON_FEEDS,
    byte_mutation,
    csv_file,
    csv_seed,
    hl7_file,
    hl7_seed,
    json_seed,
    load_and_account,
    ndjson_file,
    reader_records,
    seed_texts,
)

# Modest and reproducible in the suite; CHARTLEDGER_FUZZ_SCALE=20 (say) explores 20x as many
# random examples (a different sequence each time) for a longer bug hunt.
SCALE = int(os.environ.get("CHARTLEDGER_FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=10 * SCALE, deadline=None, derandomize=SCALE == 1, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, str]:
    landing = tmp_path_factory.mktemp("fuzz_seed")
    generate(landing, GeneratorOptions(start=dt.date(2026, 10, 1), days=2, visits_per_day=4,
                                       facilities=("NORTH", "SOUTH"), seed=11))
    return seed_texts(landing)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    apply_ddl(connection)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_files")


def assert_accounted(acc, expected: set[int]) -> None:
    assert acc.outcome == "loaded", acc.reason
    assert acc.staged | acc.quarantined == expected, "a record went missing or was invented"
    assert acc.reasons_missing == 0


def strategy_for(feed: str, seeds: dict[str, str]) -> st.SearchStrategy[tuple[bytes, set[int]]]:
    if feed in CSV_FEEDS:
        header, rows = csv_seed(seeds[feed])
        return csv_file(header, rows)
    if feed in HL7_FEEDS:
        return hl7_file(hl7_seed(seeds[feed]), repeatable="FT1")
    return ndjson_file(json_seed(seeds[feed]))


@pytest.mark.parametrize("feed", [*HL7_FEEDS, *JSON_FEEDS, *CSV_FEEDS])
def test_every_record_ends_in_staging_or_quarantine(feed, seeds, con, folder):
    strategy = strategy_for(feed, seeds)

    @FUZZ
    @given(strategy)
    def check(generated: tuple[bytes, set[int]]) -> None:
        data, numbers = generated
        assert_accounted(load_and_account(con, folder, feed, data, len(numbers)), numbers)

    check()


@pytest.mark.parametrize("feed", [*HL7_FEEDS, *JSON_FEEDS, "cabinet_transactions", "billing_accounts"])
def test_a_wrong_control_count_rejects_the_whole_file_with_a_reason(feed, seeds, con, folder):
    strategy = strategy_for(feed, seeds)

    @settings(FUZZ, max_examples=3 * SCALE)
    @given(strategy, st.sampled_from([-1, 1, 7]))
    def check(generated: tuple[bytes, set[int]], off_by: int) -> None:
        data, numbers = generated
        declared = max(len(numbers) + off_by, 0)
        if declared == len(numbers):
            return
        acc = load_and_account(con, folder, feed, data, declared)
        assert acc.outcome == "rejected" and "row count mismatch" in (acc.reason or "")
        assert not acc.staged and not acc.quarantined

    check()


@pytest.mark.parametrize("feed", [*HL7_FEEDS, *JSON_FEEDS, "cabinet_transactions", "chargemaster"])
def test_random_byte_damage_never_crashes_or_loses_a_record(feed, seeds, con, folder):
    """Arbitrary byte edits (bad UTF-8, broken quotes, cut segments): the reader either rejects
    the file with a reason or numbers its records 1..n, and loading accounts for each of them."""
    seed = seeds[feed].encode("utf-8")[:6000]

    @settings(FUZZ, max_examples=10 * SCALE)
    @given(byte_mutation(seed))
    def check(data: bytes) -> None:
        probe = folder / "probe" / f"{feed}.bin"
        probe.parent.mkdir(exist_ok=True)
        probe.write_bytes(data)
        records = reader_records(feed, probe)
        if records is None:  # the whole file is unusable (e.g. not UTF-8): it must say why
            acc = load_and_account(con, folder, feed, data, 0)
            assert acc.outcome == "rejected" and acc.reason
            return
        if feed in CSV_FEEDS or feed in HL7_FEEDS:  # NDJSON records are numbered by their line
            assert records == set(range(1, len(records) + 1))
        assert_accounted(load_and_account(con, folder, feed, data, len(records)), records)

    check()
