"""SQL channel (F10 cost_centers) through SQLAlchemy against a SQLite file and the machine's PostgreSQL.

The demo system's cost-center file is loaded into the source table; what the channel lands must
be that file byte for byte, and the pipeline must load it like any delivered file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconcile.channels.base import ChannelError
from reconcile.channels.sql_source import SqlChannelConfig, fetch_sql, text_of
from reconcile.config import ConfigError, default_settings
from reconcile.demo.generator import GeneratorOptions, generate
from reconcile.landing import discover
from reconcile.pipeline import load_feed_day
from reconcile.readers import CSV_COLUMNS
from reconcile.warehouse import Warehouse

DAY = dt.date(2026, 10, 1)
COSTCTR = "erp/COSTCTR_20261001.csv"
PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def demo_costctr(tmp_path_factory) -> bytes:
    """The demo system's cost-center file of one day (the reference file form)."""
    root = tmp_path_factory.mktemp("demo_costctr")
    generate(root, GeneratorOptions(start=DAY, days=1, visits_per_day=1, seed=7))
    return (root / COSTCTR).read_bytes()


def demo_rows(data: bytes) -> list[dict[str, object]]:
    """The demo file's rows as typed database values (booleans, dates, nulls)."""
    rows = []
    for record in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        rows.append({
            **{k: (v or None) for k, v in record.items()},
            "active": record["active"] == "true",
            "valid_from": dt.date.fromisoformat(record["valid_from"]) if record["valid_from"] else None,
            "valid_to": dt.date.fromisoformat(record["valid_to"]) if record["valid_to"] else None,
        })
    assert rows and any(not r["active"] for r in rows) and any(r["valid_to"] for r in rows)
    return rows


def cost_center_table(metadata: sa.MetaData, schema: str | None = None) -> sa.Table:
    return sa.Table(
        "cost_centers", metadata,
        sa.Column("cost_center", sa.String(10), nullable=False),
        sa.Column("facility", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100)),
        sa.Column("service_line", sa.String(50)),
        sa.Column("natural_account_revenue", sa.String(4)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_to", sa.Date),
        sa.Column("erp_internal_id", sa.Integer),  # a column the feed does not carry
        schema=schema,
    )


@dataclass
class SourceDb:
    kind: str
    engine: sa.Engine
    table: sa.Table
    env: dict[str, str]
    channel_options: dict[str, str]
    table_name: str

    def config(self, **feed_options) -> SqlChannelConfig:
        feed_options.setdefault("table", self.table_name)
        if feed_options["table"] is None or "query" in feed_options:
            feed_options.pop("table")
        return SqlChannelConfig.from_options(self.channel_options, feed_options, self.env,
                                             name="erp_db")

    def insert(self, rows: list[dict[str, object]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.insert(), rows)


def _sqlite(tmp_path: Path) -> Iterator[SourceDb]:
    path = tmp_path / "erp.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    table = cost_center_table(sa.MetaData())
    table.metadata.create_all(engine)
    yield SourceDb("sqlite", engine, table, {}, {"url": f"sqlite:///{path}"}, "cost_centers")
    engine.dispose()


def _postgres() -> Iterator[SourceDb]:
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(exc.orig).__name__}); "
                    "the same code paths are tested against SQLite")
    schema = f"chartledger_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    table = cost_center_table(sa.MetaData(), schema)
    table.metadata.create_all(engine)
    try:
        yield SourceDb("postgresql", engine, table, {"ERP_DB_URL": PG_URL}, {"url_env": "ERP_DB_URL"},
                       f"{schema}.cost_centers")
    finally:
        with engine.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def source_db(request, tmp_path) -> Iterator[SourceDb]:
    yield from (_sqlite(tmp_path) if request.param == "sqlite" else _postgres())


@pytest.fixture()
def warehouse(tmp_path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.ensure_schema()
    return warehouse


def landed_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def channel_runs(warehouse: Warehouse) -> list[tuple]:
    with warehouse.writer() as con:
        return con.execute("SELECT channel, feed, extract_date, outcome, files_fetched, rows_fetched, "
                           "last_error FROM ops.channel_runs ORDER BY started_at").fetchall()


def test_lands_the_table_as_the_reference_file_and_the_pipeline_loads_it(
        source_db, demo_costctr, tmp_path, warehouse):
    rows = demo_rows(demo_costctr)
    source_db.insert([{**r, "erp_internal_id": i} for i, r in enumerate(rows)])
    landing = tmp_path / "landing"

    stats = fetch_sql(source_db.config(chunk_size=7), landing, "cost_centers", DAY, warehouse)

    assert (landing / COSTCTR).read_bytes() == demo_costctr  # the demo's file form, byte for byte
    assert (stats.outcome, stats.files, stats.rows_fetched) == ("success", [COSTCTR], len(rows))
    assert set(landed_tree(landing)) == {COSTCTR, COSTCTR + ".ctl"}
    [landed] = discover(landing, DAY)
    assert landed.control is not None and landed.control.sha256 == landed.sha256
    assert landed.control.rows == len(rows)
    assert channel_runs(warehouse) == [("sql", "cost_centers", DAY, "success", 1, len(rows), None)]

    settings = default_settings(landing, warehouse.path)
    with warehouse.writer() as con:
        outcome = load_feed_day(con, settings, "cost_centers", DAY, "run-1")
        staged = con.execute(
            "SELECT cost_center, facility, name, service_line, natural_account_revenue, active, "
            "valid_from, valid_to FROM staging.cost_centers ORDER BY row_number").fetchall()
    assert [(o.outcome, o.rows_loaded, o.rows_rejected) for o in outcome.outcomes] == [
        ("loaded", len(rows), 0)]
    assert staged == [tuple(r[c] for c in CSV_COLUMNS["cost_centers"]) for r in rows]


def test_a_query_with_awkward_text_round_trips_through_the_pipeline(source_db, tmp_path, warehouse):
    awkward = 'IMAGING, "NORTH"\nWING'
    source_db.insert([{"cost_center": "6120", "facility": "NORTH", "name": awkward,
                       "service_line": "DIAGNOSTICS", "natural_account_revenue": "4110",
                       "active": True, "valid_from": dt.date(2026, 1, 1), "valid_to": None}])
    table = source_db.table_name
    query = (f"SELECT valid_to AS VALID_TO, valid_from, active, natural_account_revenue, service_line, "
             f"name, facility, cost_center FROM {table} WHERE facility = 'NORTH'")
    landing = tmp_path / "landing"

    fetch_sql(source_db.config(query=query), landing, "cost_centers", DAY, warehouse)

    text = (landing / COSTCTR).read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS["cost_centers"])
    settings = default_settings(landing, warehouse.path)
    with warehouse.writer() as con:
        outcome = load_feed_day(con, settings, "cost_centers", DAY, "run-1")
        assert con.execute("SELECT name, active, valid_to FROM staging.cost_centers").fetchall() == [
            (awkward, True, None)]
    assert outcome.outcomes[0].rows_loaded == 1


def test_a_changed_table_replaces_the_days_file(source_db, demo_costctr, tmp_path, warehouse):
    rows = demo_rows(demo_costctr)
    source_db.insert(rows)
    landing = tmp_path / "landing"
    fetch_sql(source_db.config(), landing, "cost_centers", DAY, warehouse)
    with source_db.engine.begin() as conn:
        conn.execute(source_db.table.update().where(source_db.table.c.cost_center == rows[0]["cost_center"])
                     .values(active=False, valid_to=dt.date(2026, 9, 30)))

    fetch_sql(source_db.config(), landing, "cost_centers", DAY, warehouse)

    [landed] = discover(landing, DAY)
    assert landed.control is not None and landed.control.sha256 == landed.sha256
    lines = landed.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows) + 1  # without ORDER BY the row order is the database's
    [changed] = [line for line in lines if line.startswith(f"{rows[0]['cost_center']},")]
    assert changed.endswith(",false,2026-01-01,2026-09-30")
    assert set(landed_tree(landing)) == {COSTCTR, COSTCTR + ".ctl"}


def test_a_failing_query_lands_nothing_and_names_the_feed(source_db, tmp_path, warehouse):
    landing = tmp_path / "landing"
    (landing / "erp").mkdir(parents=True)

    with pytest.raises(ChannelError, match=r"sql erp_db: feed cost_centers from .*: .*nothing landed"):
        fetch_sql(source_db.config(table="no_such_table"), landing, "cost_centers", DAY, warehouse)
    with pytest.raises(ChannelError, match="lacks column.* valid_from, valid_to of feed cost_centers"):
        fetch_sql(source_db.config(query=f"SELECT cost_center, facility, name, service_line, "
                                         f"natural_account_revenue, active FROM {source_db.table_name}"),
                  landing, "cost_centers", DAY, warehouse)

    assert landed_tree(landing) == {}
    runs = channel_runs(warehouse)
    assert [r[3] for r in runs] == ["failed", "failed"]
    assert all("cost_centers" in r[6] for r in runs)


def test_the_password_never_comes_from_the_configuration_file():
    with pytest.raises(ConfigError, match="must not hold a password"):
        SqlChannelConfig.from_options({"url": "postgresql+psycopg://erp:secret@db/erp"}, {}, {})
    with pytest.raises(ConfigError, match="ERP_URL, which is not set"):
        SqlChannelConfig.from_options({"url_env": "ERP_URL"}, {}, {})
    with pytest.raises(ConfigError, match="exactly one of"):
        SqlChannelConfig.from_options({}, {}, {})
    config = SqlChannelConfig.from_options({"url": "postgresql+psycopg://erp@db/erp",
                                            "password_env": "ERP_PW"}, {}, {"ERP_PW": "s3cret"})
    assert config.url.password == "s3cret"
    assert "s3cret" not in repr(config) and "s3cret" not in config.safe_url


@pytest.mark.parametrize(("feed_options", "message"), [
    ({"table": "cost_centers; DROP TABLE x"}, "not a valid identifier"),
    ({"table": "a", "query": "SELECT 1"}, "not both"),
    ({"chunk_size": 0}, "at least 1"),
    ({"chunksize": 10}, "unknown per-feed SQL option"),
])
def test_feed_options_are_checked(feed_options, message):
    with pytest.raises(ConfigError, match=message):
        SqlChannelConfig.from_options({"url": "sqlite://"}, feed_options, {})


def test_the_default_query_selects_the_reference_columns():
    config = SqlChannelConfig.from_options({"url": "sqlite://"}, {}, {})
    assert config.query_for("cost_centers") == (
        "SELECT cost_center, facility, name, service_line, natural_account_revenue, active, "
        "valid_from, valid_to FROM cost_centers")
    with pytest.raises(ConfigError, match="no CSV file form"):
        config.query_for("gl_journal_lines")


@pytest.mark.parametrize(("value", "boolean", "text"), [
    (None, None, ""), (True, ("true", "false"), "true"), (0, ("true", "false"), "false"),
    (1, ("Y", "N"), "Y"), (dt.date(2026, 1, 2), None, "2026-01-02"),
    (dt.datetime(2026, 1, 2), None, "2026-01-02"),
    (dt.datetime(2026, 1, 2, 3, 4, 5), None, "2026-01-02T03:04:05"),
    (4110, None, "4110"), (0.1, None, "0.1"), ("true", ("true", "false"), "true"),
])
def test_values_are_written_as_the_reference_layout_expects(value, boolean, text):
    assert text_of(value, boolean) == text
