"""`chartledger serve-demo`: the demo health system behind real channels, on loopback.

From a landing directory written by `chartledger generate` it starts an SFTP server (asyncssh) with
the feeds that feeds.md sends over SFTP, an HTTP server with the cloud ERP, workforce and FHIR Bulk
Data APIs, and a SQLite database with the ERP's `cost_centers` table; the file-drop feeds (F5,
F11, F12) are copied into a new landing directory. It writes `chartledger.toml` (with a pinned host
key and secrets in 0600 files) so that `chartledger run --config` fetches everything over the wire.
The APIs answer as of a simulated night (`set_day`, or `POST /demo/clock`).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import secrets
import shutil
import sqlite3
from pathlib import Path
from types import TracebackType

from reconcile.demo.api_server import DemoApiServer
from reconcile.demo.sftp_server import DemoSftpServer
from reconcile.feeds import FEEDS, classify
from reconcile.landing import CONTROL_SUFFIX

SFTP_FEEDS = ("adt", "charges", "cabinet_transactions", "inventory_transactions", "item_master",
              "billing_accounts")
FILE_DROP_FEEDS = ("case_supplies", "chargemaster", "department_map")
API_FEEDS = ("gl_journal_lines", "timecards")
FHIR_FEEDS = ("procedures", "med_administrations")
SQL_FEEDS = ("cost_centers",)
COST_CENTER_COLUMNS = ("cost_center", "facility", "name", "service_line",
                       "natural_account_revenue", "active", "valid_from", "valid_to")


class DemoServers:
    """Start every demo channel server for `source` (a generated landing directory) in `work`."""

    def __init__(self, source: Path, work: Path, facilities: tuple[str, ...] = ()) -> None:
        self.source = Path(source)
        self.work = Path(work)
        self.landing = self.work / "landing"
        self.remote = self.work / "sftp"
        self.database = self.work / "erp.sqlite"
        self.config_path = self.work / "chartledger.toml"
        self.warehouse = self.work / "warehouse.duckdb"
        self.facilities = facilities or _facilities(self.source)
        secrets_dir = self.work / "secrets"
        secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._sftp_password = secrets.token_urlsafe(18)
        self._api_secret = secrets.token_urlsafe(18)
        self.sftp_password_file = _secret_file(secrets_dir / "sftp_password", self._sftp_password)
        self.api_secret_file = _secret_file(secrets_dir / "api_client_secret", self._api_secret)
        self.known_hosts = self.work / "known_hosts"
        self.sftp = DemoSftpServer(self.remote, password=self._sftp_password)
        self.api = DemoApiServer(self.source, client_secret=self._api_secret)

    def __enter__(self) -> DemoServers:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> DemoServers:
        self._stage_files()
        self.sftp.start()
        try:
            self.api.start()
        except BaseException:
            self.sftp.stop()
            raise
        self.known_hosts.write_text(self.sftp.known_hosts_line + "\n", encoding="utf-8")
        self.config_path.write_text(self.render_config(), encoding="utf-8")
        return self

    def stop(self) -> None:
        self.api.stop()
        self.sftp.stop()

    def set_day(self, day: dt.date | None) -> None:
        """The night the APIs answer for (None: every day the generator wrote)."""
        self.api.as_of = day

    def describe(self) -> str:
        return "\n".join([
            f"SFTP      sftp://chartledger@{self.sftp.host}:{self.sftp.port}/ "
            f"(host key {self.sftp.fingerprint}) serving {self.remote}",
            f"ERP/WFM   {self.api.url}/api/v1/gl/journal-lines, {self.api.url}/api/v1/timecards",
            f"FHIR Bulk {self.api.fhir_base_url}/$export",
            f"SQL       sqlite:///{self.database} (table cost_centers)",
            f"landing   {self.landing} (file-drop feeds copied)",
        ])

    def render_config(self) -> str:
        """A configuration that fetches every feed over its demo channel."""
        facilities = ", ".join(f'"{f}"' for f in self.facilities)
        lines = [
            "# Written by `chartledger serve-demo`: every feed comes over a real channel on loopback.",
            "[chartledger]",
            f'landing_root = "{self.landing}"',
            f'warehouse = "{self.warehouse}"',
            f"facilities = [{facilities}]",
            "",
            "[channels.demo_sftp]",
            'type = "sftp"',
            f'host = "{self.sftp.host}"',
            f"port = {self.sftp.port}",
            'username = "chartledger"',
            f'known_hosts = "{self.known_hosts}"',
            f'password_file = "{self.sftp_password_file}"',
            'remote_root = "/"',
            "",
            "[channels.demo_erp]",
            'type = "rest_api"',
            f'base_url = "{self.api.url}"',
            'client_id = "chartledger-demo"',
            f'client_secret_file = "{self.api_secret_file}"',
            "",
            "[channels.demo_fhir]",
            'type = "fhir_bulk"',
            f'base_url = "{self.api.fhir_base_url}"',
            'client_id = "chartledger-demo"',
            f'client_secret_file = "{self.api_secret_file}"',
            "",
            "[channels.demo_erp_db]",
            'type = "sql"',
            f'url = "sqlite:///{self.database}"',
            "",
        ]
        for feed, channel in ([(f, "demo_sftp") for f in SFTP_FEEDS]
                              + [(f, "demo_erp") for f in API_FEEDS]
                              + [(f, "demo_fhir") for f in FHIR_FEEDS]
                              + [(f, "demo_erp_db") for f in SQL_FEEDS]
                              + [(f, "file") for f in FILE_DROP_FEEDS]):
            lines += [f"[feeds.{feed}]  # {FEEDS[feed].feed_id}", f'channel = "{channel}"', ""]
        return "\n".join(lines)

    def _stage_files(self) -> None:
        """The SFTP server's tree, the file drops and the ERP database, from the source files."""
        self.landing.mkdir(parents=True, exist_ok=True)
        latest_cost_centers: Path | None = None
        for path in sorted(self.source.rglob("*")):
            if not path.is_file() or path.name.endswith(CONTROL_SUFFIX):
                continue
            relative = path.relative_to(self.source).as_posix()
            landed = classify(relative)
            if landed is None:
                continue
            name = landed.feed.name
            if name in SFTP_FEEDS:
                _copy_with_control(path, self.remote / relative)
            elif name in FILE_DROP_FEEDS:
                _copy_with_control(path, self.landing / relative)
            elif name in SQL_FEEDS:
                latest_cost_centers = path
        if latest_cost_centers is not None:
            _load_cost_centers(latest_cost_centers, self.database)


def _copy_with_control(data: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    control = data.with_name(data.name + CONTROL_SUFFIX)
    shutil.copyfile(data, target)
    if control.exists():
        shutil.copyfile(control, target.with_name(target.name + CONTROL_SUFFIX))


def _load_cost_centers(csv_path: Path, database: Path) -> None:
    """The ERP's table as the demo's latest COSTCTR extract shows it (text as written; '' = NULL)."""
    database.unlink(missing_ok=True)
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = [tuple(row[c] or None for c in COST_CENTER_COLUMNS) for row in csv.DictReader(handle)]
    con = sqlite3.connect(database)
    try:
        con.execute(f"CREATE TABLE cost_centers ({', '.join(f'{c} TEXT' for c in COST_CENTER_COLUMNS)})")
        con.executemany(f"INSERT INTO cost_centers VALUES ({', '.join('?' * len(COST_CENTER_COLUMNS))})",
                        rows)
        con.commit()
    finally:
        con.close()


def _secret_file(path: Path, value: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return path


def _facilities(source: Path) -> tuple[str, ...]:
    found = {landed.facility for p in source.rglob("*") if p.is_file()
             if (landed := classify(p.relative_to(source).as_posix())) and landed.facility}
    return tuple(sorted(found))
