"""FHIR Bulk Data channel (F3 procedures, F4 med_administrations, optionally Encounter).

The flow of the Bulk Data Access IG (system-level export): kick-off `GET {base}/$export?_type=...
&_since=<last transactionTime>` with `Accept: application/fhir+json` and `Prefer: respond-async`
→ 202 with `Content-Location`; poll that status URL (202 with `X-Progress` and `Retry-After`, until
200 with the manifest); download every `output` NDJSON file (bearer token when the manifest says
`requiresAccessToken`), and concatenate them per type into `ehr/fhir/<Type>_<YYYYMMDD>.ndjson`.
All of a day's type files land together, after every download is complete and checked (JSON
object per line, `resourceType`, the manifest's `count`); then `transactionTime` becomes the next
`_since`. A poll that outlasts `poll_max_s` cancels the export (DELETE on the status URL).

`error[]`: OperationOutcome NDJSON files of resources the server could not export. Issues of
severity `error` or `fatal` fail the pull by default (nothing lands, `_since` stays, so the next
night asks again): landing the rest and moving `_since` past the failed resources would lose them
silently. `fail_on_export_errors = false` lands anyway and records the issues in the run's errors.
Warnings and information issues are logged. Only severities and codes are reported, never the
diagnostics text (it may name a patient).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from reconcile.channels.base import (
    ChannelError,
    ChannelStats,
    Deadline,
    LandingFile,
    backoff_delays,
    landing_file,
)
from reconcile.channels.http import (
    CREDENTIAL_OPTIONS,
    HTTP_OPTIONS,
    ClientCredentials,
    HttpClient,
    HttpSettings,
    check_url,
    known_options,
    option_flag,
    option_number,
    parse_retry_after,
    redact_url,
)
from reconcile.channels.state import get_watermark, record_channel_run, set_watermark
from reconcile.config import ConfigError, Settings
from reconcile.landing import CONTROL_SUFFIX
from reconcile.secrets import check_no_inline_secrets
from reconcile.warehouse import Warehouse

log = logging.getLogger(__name__)

CHANNEL_TYPE = "fhir_bulk"
# exported type -> the feed it lands for (Encounter resolves `Encounter/<id>` references)
TYPE_FEEDS = {"Procedure": "procedures", "MedicationAdministration": "med_administrations",
              "Encounter": "encounters"}
FEED_TYPES = {feed: kind for kind, feed in TYPE_FEEDS.items()}
DEFAULT_TYPES = ("Procedure", "MedicationAdministration")
CHANNEL_OPTIONS = HTTP_OPTIONS | CREDENTIAL_OPTIONS | {
    "base_url", "types", "poll_min_s", "poll_cap_s", "poll_max_s", "fail_on_export_errors",
    "initial_since"}
FATAL_SEVERITIES = ("fatal", "error")


@dataclass(frozen=True)
class FhirBulkConfig:
    """One `[channels.<name>]` section of type `fhir_bulk`."""

    name: str
    base_url: str
    credentials: ClientCredentials
    http: HttpSettings = field(default_factory=HttpSettings)
    types: tuple[str, ...] = DEFAULT_TYPES
    poll_min_s: float = 1.0  # the shortest wait between polls (also without Retry-After)
    poll_cap_s: float = 120.0  # the longest backoff between polls without Retry-After
    poll_max_s: float = 3600.0  # give up (and cancel the export) after this long
    fail_on_export_errors: bool = True
    initial_since: str | None = None

    @classmethod
    def from_options(cls, channel_options: Mapping[str, Any],
                     feed_options: Mapping[str, Mapping[str, Any]] | None = None,
                     env: Mapping[str, str] | None = None, *, name: str = CHANNEL_TYPE,
                     base_dir: Path | None = None) -> FhirBulkConfig:
        """Build from the channel's options; `types` defaults to Procedure and
        MedicationAdministration (add Encounter when references are `Encounter/<id>`)."""
        where = f"[channels.{name}]"
        check_no_inline_secrets(channel_options, where)
        known_options(channel_options, CHANNEL_OPTIONS, where)
        for feed, opts in (feed_options or {}).items():
            if feed not in FEED_TYPES:
                raise ConfigError(f"[feeds.{feed}] cannot come from a FHIR Bulk Data channel")
            known_options(opts or {}, frozenset(), f"[feeds.{feed}]")
        http = HttpSettings.from_options(channel_options, where, base_dir)
        base = channel_options.get("base_url")
        if not base:
            raise ConfigError(f"{where} needs base_url")
        base_url = check_url(str(base).rstrip("/"), f"{where} base_url", http.allow_http)
        types = channel_options.get("types", list(DEFAULT_TYPES))
        if isinstance(types, str):
            types = [t.strip() for t in types.split(",") if t.strip()]
        if not isinstance(types, list) or not types or any(t not in TYPE_FEEDS for t in types):
            raise ConfigError(f"{where} types must list some of {', '.join(TYPE_FEEDS)}")
        since = channel_options.get("initial_since")
        if since and _instant(str(since)) is None:
            raise ConfigError(f"{where} initial_since {since!r} is not a FHIR instant")
        scoped = dict(channel_options)
        scoped.setdefault("scope", " ".join(f"system/{t}.read" for t in types))
        return cls(
            name=name, base_url=base_url,
            credentials=ClientCredentials.from_options(
                scoped, os.environ if env is None else env, where, f"{base_url}/token",
                http.allow_http, base_dir),
            http=http, types=tuple(dict.fromkeys(types)),
            poll_min_s=option_number(channel_options, "poll_min_s", 1.0, where),
            poll_cap_s=option_number(channel_options, "poll_cap_s", 120.0, where),
            poll_max_s=option_number(channel_options, "poll_max_s", 3600.0, where, minimum=0.001),
            fail_on_export_errors=option_flag(channel_options, "fail_on_export_errors", True, where),
            initial_since=str(since) if since else None,
        )

    @classmethod
    def from_settings(cls, settings: Settings, channel: str, env: Mapping[str, str] | None = None,
                      base_dir: Path | None = None) -> FhirBulkConfig:
        section = settings.channels.get(channel)
        if section is None or section.type != CHANNEL_TYPE:
            raise ConfigError(f"[channels.{channel}] is not a fhir_bulk channel")
        feeds = {feed: spec.options for feed, spec in settings.feeds.items() if spec.channel == channel}
        return cls.from_options(section.options, feeds, env, name=channel, base_dir=base_dir)


def landing_path(resource_type: str, extract_date: dt.date) -> str:
    """`ehr/fhir/<Type>_<YYYYMMDD>.ndjson` (feeds.md)."""
    return f"ehr/fhir/{resource_type}_{extract_date:%Y%m%d}.ndjson"


def _instant(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Manifest:
    transaction_time: str
    requires_token: bool
    outputs: list[tuple[str, str, int | None]]  # (type, url, count)
    errors: list[str]  # OperationOutcome file URLs
    deleted: int


def fetch_fhir_bulk(config: FhirBulkConfig, landing_root: Path, extract_date: dt.date,
                    warehouse: Warehouse) -> list[ChannelStats]:
    """Run one export since the last transactionTime and land its files for extract_date.

    Returns one ChannelStats per exported type (recorded in ops.channel_runs; the warehouse
    schema must exist). Raises ChannelError when the export fails; then nothing of it lands and
    `_since` stays. A day whose files are all landed already is not exported again.
    """
    all_stats = [ChannelStats(CHANNEL_TYPE, TYPE_FEEDS[t], extract_date) for t in config.types]
    try:
        paths = [landing_path(t, extract_date) for t in config.types]
        if all(_already_landed(landing_root, p) for p in paths):
            log.info("%s: the export of %s is already landed; not exported again", config.name,
                     extract_date)
            return [s.finish("nothing_new") for s in all_stats]
        marks = [get_watermark(warehouse, config.name, TYPE_FEEDS[t]) for t in config.types]
        since = _oldest(marks) if all(marks) else config.initial_since
        export = _Export(config, landing_root, extract_date, all_stats)
        transaction_time = export.run(since)
        for kind in config.types:
            set_watermark(warehouse, config.name, TYPE_FEEDS[kind], transaction_time)
        for stats in all_stats:
            stats.finish("success" if stats.rows_fetched else "nothing_new")
        return all_stats
    except BaseException as exc:
        for stats in all_stats:
            if stats.finished_at is None:
                stats.finish("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for stats in all_stats:
            record_channel_run(warehouse, stats)


def _oldest(marks: Sequence[str | None]) -> str:
    """The earliest stored transactionTime (types added later start from the oldest)."""
    usable = [(_instant(m), m) for m in marks if m and _instant(m) is not None]
    if not usable:
        raise ChannelError(f"stored transactionTime(s) {marks} are not FHIR instants")
    return min(usable)[1]


def _already_landed(landing_root: Path, relative: str) -> bool:
    path = landing_root / relative
    return path.is_file() and path.with_name(path.name + CONTROL_SUFFIX).is_file()


class _Export:
    """One kick-off → poll → download run."""

    def __init__(self, config: FhirBulkConfig, landing_root: Path, extract_date: dt.date,
                 stats: Sequence[ChannelStats]) -> None:
        self.config = config
        self.landing_root = landing_root
        self.extract_date = extract_date
        self.stats = {TYPE_FEEDS[t]: s for t, s in zip(config.types, stats, strict=True)}
        self.deadline = Deadline(config.http.max_total_s)
        self.what = f"{config.name} $export"

    def run(self, since: str | None) -> str:
        with HttpClient(self.config.http, self.config.credentials, self.deadline,
                        self.config.name) as client:
            try:
                status_url = self._kick_off(client, since)
                manifest = self._poll(client, status_url)
                self._land(client, manifest)
            finally:
                for stats in self.stats.values():
                    stats.retries += client.retries
        return manifest.transaction_time

    def _kick_off(self, client: HttpClient, since: str | None) -> str:
        params = {"_type": ",".join(self.config.types)}
        if since:
            params["_since"] = since
        response = client.request(
            "GET", f"{self.config.base_url}/$export", params=params, what=f"{self.what} kick-off",
            headers={"Accept": "application/fhir+json", "Prefer": "respond-async"}, expect=(202,))
        location = response.headers.get("Content-Location")
        if not location:
            raise ChannelError(f"{self.what}: the kick-off answered 202 without Content-Location")
        log.info("%s: export started (since %s)", self.what, since or "the beginning")
        return self._checked(urljoin(self.config.base_url + "/", location), "status URL")

    def _poll(self, client: HttpClient, status_url: str) -> Manifest:
        """Poll until the manifest; past poll_max_s (or the total bound) cancel the export."""
        started = time.monotonic()
        delays = backoff_delays(self.config.poll_min_s, max(self.config.poll_min_s,
                                                            self.config.poll_cap_s), jitter=0.2)
        polls = 0
        while True:
            polls += 1
            response = client.request("GET", status_url, what=f"{self.what} status",
                                      headers={"Accept": "application/json"}, expect=(200, 202))
            if response.status_code == 200:
                log.info("%s: complete after %d poll(s)", self.what, polls)
                return self._manifest(response.content)
            progress = (response.headers.get("X-Progress") or "").strip()[:100]
            wait = parse_retry_after(response.headers.get("Retry-After"))
            delay = max(self.config.poll_min_s, wait) if wait is not None else next(delays)
            elapsed = time.monotonic() - started
            if elapsed + delay > self.config.poll_max_s or delay >= self.deadline.remaining:
                self._cancel(client, status_url)
                raise ChannelError(
                    f"{self.what}: not complete after {elapsed:.1f} s and {polls} poll(s) "
                    f"(last progress: {progress or 'none given'}); the export was cancelled "
                    f"(poll_max_s = {self.config.poll_max_s:g})")
            log.info("%s: in progress (%s); next poll in %.2f s", self.what, progress or "no detail",
                     delay)
            time.sleep(delay)

    def _cancel(self, client: HttpClient, status_url: str) -> None:
        """DELETE the status URL (the IG's cancellation); a failure to cancel is only logged."""
        client.deadline = Deadline(max(5.0, self.config.http.timeout_s))  # room to cancel
        try:
            client.request("DELETE", status_url, what=f"{self.what} cancel", expect=(200, 202, 204))
            log.warning("%s: export cancelled (DELETE %s)", self.what, redact_url(status_url))
        except ChannelError as exc:
            log.warning("%s: could not cancel the export: %s", self.what, exc)

    def _manifest(self, body: bytes) -> Manifest:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ChannelError(f"{self.what}: the completed status is not a JSON manifest") from None
        if not isinstance(data, dict):
            raise ChannelError(f"{self.what}: the manifest is not a JSON object")
        transaction_time = data.get("transactionTime")
        if not isinstance(transaction_time, str) or _instant(transaction_time) is None:
            raise ChannelError(f"{self.what}: the manifest has no usable transactionTime")
        outputs: list[tuple[str, str, int | None]] = []
        for entry in _entries(data, "output", self.what):
            count = entry.get("count")
            outputs.append((str(entry.get("type")), self._file_url(entry),
                            count if isinstance(count, int) and not isinstance(count, bool) else None))
        errors = [self._file_url(entry) for entry in _entries(data, "error", self.what)]
        return Manifest(transaction_time, data.get("requiresAccessToken") is not False, outputs,
                        errors, len(_entries(data, "deleted", self.what)))

    def _file_url(self, entry: Mapping[str, Any]) -> str:
        url = entry.get("url")
        if not isinstance(url, str) or not url:
            raise ChannelError(f"{self.what}: a manifest entry has no url")
        return self._checked(urljoin(self.config.base_url + "/", url), "file URL")

    def _checked(self, url: str, what: str) -> str:
        """A URL the server handed us, held to the same rules as the configured ones."""
        try:
            return check_url(url, f"{self.what} {what}", self.config.http.allow_http)
        except ConfigError as exc:
            raise ChannelError(str(exc)) from None

    def _land(self, client: HttpClient, manifest: Manifest) -> None:
        """Download every output into its type's landing file; land them all, or none."""
        unexpected = sorted({kind for kind, _url, _count in manifest.outputs
                             if kind not in self.config.types})
        if unexpected:
            log.warning("%s: the manifest lists types not asked for (%s); ignored", self.what,
                        ", ".join(unexpected))
        if manifest.deleted:
            note = (f"the manifest lists {manifest.deleted} file(s) of deleted resources; deletions "
                    "are not applied (the pipeline withdraws records by status entered-in-error)")
            log.warning("%s: %s", self.what, note)
            for stats in self.stats.values():
                stats.errors.append(note)
        issues = self._error_issues(client, manifest)
        with ExitStack() as stack:
            files: dict[str, LandingFile] = {}
            for kind in self.config.types:
                files[kind] = stack.enter_context(
                    landing_file(self.landing_root, landing_path(kind, self.extract_date)))
            for number, (kind, url, count) in enumerate(manifest.outputs, 1):
                if kind in files:
                    self._download(client, manifest, files[kind], kind, url, count, number)
            self._judge(issues)
            sizes = {kind: (out.writer.size, out.rows) for kind, out in files.items()}
        for kind, (size, rows) in sizes.items():
            self.stats[TYPE_FEEDS[kind]].landed(landing_path(kind, self.extract_date), size, rows)
            log.info("%s: landed %s (%d resources)", self.what, landing_path(kind, self.extract_date),
                     rows)

    def _download(self, client: HttpClient, manifest: Manifest, out: LandingFile, kind: str,
                  url: str, count: int | None, number: int) -> None:
        """Fetch one NDJSON file into a hidden spool file beside the landing file (started over if
        the download breaks off), check every line, then append it to the landing file."""
        shown = f"{self.what} output file {number} ({kind}, {redact_url(url)})"
        spool = out.temp_path.with_name(f"{out.temp_path.name}.{number}.download")
        try:
            with spool.open("w+b") as handle:
                rows = 0

                def sink(chunks: Iterator[bytes]) -> None:
                    nonlocal rows
                    handle.seek(0)
                    handle.truncate()
                    rows = 0
                    for line in _ndjson_lines(chunks):
                        rows += 1
                        _check_resource(line, kind, f"{shown} line {rows}")
                        handle.write(line + b"\n")

                client.download(url, what=shown, sink=sink, bearer=manifest.requires_token,
                                headers={"Accept": "application/fhir+ndjson"})
                if count is not None and count != rows:
                    raise ChannelError(f"{shown}: the manifest says {count} resources, the file has "
                                       f"{rows}; nothing landed")
                handle.seek(0)
                for block in iter(lambda: handle.read(1 << 20), b""):
                    out.writer.write(block)
                out.rows += rows
        finally:
            spool.unlink(missing_ok=True)

    def _error_issues(self, client: HttpClient, manifest: Manifest) -> Counter[tuple[str, str]]:
        """Severity and code of every issue in the manifest's error[] OperationOutcome files."""
        issues: Counter[tuple[str, str]] = Counter()
        for number, url in enumerate(manifest.errors, 1):
            shown = f"{self.what} error file {number} ({redact_url(url)})"
            lines: list[bytes] = []

            def sink(chunks: Iterator[bytes], lines: list[bytes] = lines) -> None:
                lines.clear()
                lines.extend(_ndjson_lines(chunks))

            client.download(url, what=shown, sink=sink, bearer=manifest.requires_token,
                            headers={"Accept": "application/fhir+ndjson"})
            for index, line in enumerate(lines, 1):
                outcome = _check_resource(line, "OperationOutcome", f"{shown} line {index}")
                for issue in outcome.get("issue") or [{}]:
                    issue = issue if isinstance(issue, dict) else {}
                    issues[(str(issue.get("severity") or "error"),
                            str(issue.get("code") or "unknown"))] += 1
        return issues

    def _judge(self, issues: Counter[tuple[str, str]]) -> None:
        if not issues:
            return
        text = ", ".join(f"{sev}/{code} x{n}" for (sev, code), n in sorted(issues.items()))
        serious = sum(n for (sev, _code), n in issues.items() if sev in FATAL_SEVERITIES)
        if serious and self.config.fail_on_export_errors:
            raise ChannelError(f"{self.what}: the export reports {serious} resource(s) it could not "
                               f"export (error[]: {text}); nothing landed, _since unchanged "
                               "(set fail_on_export_errors = false to land the rest anyway)")
        log.warning("%s: the export's error[] files report: %s", self.what, text)
        if serious:
            for stats in self.stats.values():
                stats.errors.append(f"export error[] issues: {text}"[:1000])


def _entries(data: Mapping[str, Any], key: str, what: str) -> list[Mapping[str, Any]]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise ChannelError(f"{what}: the manifest's {key} is not a list of objects")
    return value


def _ndjson_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Non-empty lines of a streamed NDJSON body (LF or CRLF), without their terminators."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *complete, rest = rest.split(b"\n")
        for line in complete:
            line = line.rstrip(b"\r")
            if line.strip():
                yield line
    if rest.strip():
        yield rest.rstrip(b"\r")


def _check_resource(line: bytes, kind: str, where: str) -> dict[str, Any]:
    try:
        resource = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise ChannelError(f"{where} is not valid JSON; nothing landed") from None
    if not isinstance(resource, dict) or resource.get("resourceType") != kind:
        found = resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__
        raise ChannelError(f"{where} is a {found!r}, not a {kind}; nothing landed")
    return resource
