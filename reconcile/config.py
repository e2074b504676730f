"""ChartLedger configuration: one TOML file naming facilities, paths, feed channels and thresholds."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from reconcile.sla import DEFAULT_TIMEZONE, FeedSla, SlaError, sla_from_mapping

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
FACILITY_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,15}$")


class ConfigError(ValueError):
    """A configuration file or value that ChartLedger cannot use."""


def validate_identifier(value: str, what: str) -> str:
    """Return value if it is a safe SQL identifier (letters, digits, underscore), else raise."""
    if not IDENTIFIER.match(value):
        raise ConfigError(f"{what} {value!r} is not a valid identifier (letters, digits, _)")
    return value


def validate_facility(value: str) -> str:
    if not FACILITY_CODE.match(value):
        raise ConfigError(f"facility code {value!r} must be 1-16 of A-Z, 0-9, '_' or '-'")
    return value


@dataclass(frozen=True)
class Thresholds:
    """Reconciliation thresholds of reconciliation.md, with the spec's defaults."""

    charge_window_days: int = 3
    late_charge_days: int = 3
    bill_hold_days: int = 4
    dnfb_alert_days: int = 7
    amount_tolerance: Decimal = Decimal("0.01")
    gl_tolerance: Decimal = Decimal("1.00")
    rolling_window_days: int = 14
    rejected_share_threshold: Decimal = Decimal("0.05")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Thresholds:
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ConfigError(f"unknown threshold(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, raw in data.items():
            default = getattr(cls, name)
            try:
                values[name] = Decimal(str(raw)) if isinstance(default, Decimal) else int(raw)
            except (ArithmeticError, ValueError) as exc:
                raise ConfigError(f"threshold {name} = {raw!r} is not a number") from exc
            if values[name] < 0:
                raise ConfigError(f"threshold {name} must not be negative")
        return cls(**values)


@dataclass(frozen=True)
class FeedChannel:
    """Where a feed comes from (`file`: already in the landing directory, or a remote channel),
    and how the site's layout maps onto the reference one (reconcile/mapping.py)."""

    channel: str = "file"
    location: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    mapping: Any = None  # reconcile.mapping.SiteMapping


CHANNEL_TYPES = ("sftp", "rest_api", "fhir_bulk", "sql")


@dataclass(frozen=True)
class ChannelSettings:
    """A connection to a source system (`[channels.<name>]`), shared by the feeds that name it.

    `options` are the channel type's own settings (host, URLs, host-key pin, names of the
    environment variables or files that hold secrets); secrets themselves never go in the file.
    """

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DuckDBSettings:
    memory_limit: str = "4GB"
    threads: int = 2
    temp_directory: str = ""


@dataclass(frozen=True)
class Settings:
    """Everything a run needs; built from a TOML file and/or command-line overrides."""

    landing_root: Path
    warehouse_path: Path
    facilities: tuple[str, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    feeds: dict[str, FeedChannel] = field(default_factory=dict)
    channels: dict[str, ChannelSettings] = field(default_factory=dict)
    duckdb: DuckDBSettings = field(default_factory=DuckDBSettings)
    outputs_dir: Path | None = None
    config_dir: Path | None = None  # folder of the configuration file: relative paths of channels
    pay_period_first_end: dt.date = dt.date(2026, 1, 10)  # any pay-period end (a Saturday)
    sla: FeedSla = field(default_factory=FeedSla)  # time zone and feed arrival deadlines

    @property
    def timezone(self) -> str:
        """The site's IANA time zone: schedules and feed deadlines are in it."""
        return self.sla.timezone

    @property
    def outputs(self) -> Path:
        return self.outputs_dir or self.warehouse_path.parent / "outputs"

    @property
    def analyst_path(self) -> Path:
        """The published, read-only analyst database (beside the warehouse)."""
        return self.warehouse_path.with_name("analyst.duckdb")

    def with_overrides(
        self, landing_root: Path | None = None, warehouse_path: Path | None = None
    ) -> Settings:
        return replace(
            self,
            landing_root=landing_root or self.landing_root,
            warehouse_path=warehouse_path or self.warehouse_path,
        )


def load_settings(path: Path) -> Settings:
    """Read a ChartLedger TOML configuration file; relative paths resolve against its folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
    return settings_from_mapping(data, base=path.parent)


def settings_from_mapping(data: dict[str, Any], base: Path) -> Settings:
    from reconcile.feeds import FEEDS  # local imports: these modules import config
    from reconcile.mapping import mapping_from_options
    from reconcile.readers import CSV_COLUMNS, MODELS

    known_sections = {"chartledger", "thresholds", "feeds", "duckdb", "channels", "sla"}
    unknown = set(data) - known_sections
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    main = data.get("chartledger", {})
    for required in ("landing_root", "warehouse"):
        if required not in main:
            raise ConfigError(f"[chartledger] needs {required!r}")
    facilities = tuple(validate_facility(f) for f in main.get("facilities", []))
    channels = _channels(data.get("channels", {}))
    feeds: dict[str, FeedChannel] = {}
    for name, spec in data.get("feeds", {}).items():
        if name not in FEEDS:
            raise ConfigError(f"[feeds.{name}] is not a known feed ({', '.join(FEEDS)})")
        spec = dict(spec)
        channel = spec.pop("channel", "file")
        if channel != "file" and channel not in channels:
            raise ConfigError(f"[feeds.{name}] channel {channel!r} is neither 'file' nor a "
                              f"[channels.*] section ({', '.join(channels) or 'none defined'})")
        location = spec.pop("location", "")
        mapping = mapping_from_options(
            name, {k: spec.pop(k) for k in ("columns", "codes", "formats") if k in spec},
            CSV_COLUMNS.get(name) or list(MODELS[name].to_schema().columns))
        feeds[name] = FeedChannel(channel=channel, location=location, options=spec,
                                  mapping=mapping)
    duck = data.get("duckdb", {})
    outputs = main.get("outputs")
    try:
        sla = sla_from_mapping(str(main.get("timezone", DEFAULT_TIMEZONE)), data.get("sla", {}),
                               list(FEEDS))
    except SlaError as exc:
        raise ConfigError(str(exc)) from exc
    return Settings(
        landing_root=_resolve(base, main["landing_root"]),
        warehouse_path=_resolve(base, main["warehouse"]),
        facilities=facilities,
        thresholds=Thresholds.from_mapping(data.get("thresholds", {})),
        feeds=feeds,
        channels=channels,
        duckdb=DuckDBSettings(
            memory_limit=str(duck.get("memory_limit", DuckDBSettings.memory_limit)),
            threads=int(duck.get("threads", DuckDBSettings.threads)),
            temp_directory=str(duck.get("temp_directory", "")),
        ),
        outputs_dir=_resolve(base, outputs) if outputs else None,
        config_dir=base.resolve(),
        pay_period_first_end=_date(main.get("pay_period_first_end", "2026-01-10"),
                                   "pay_period_first_end"),
        sla=sla,
    )


def _channels(data: dict[str, Any]) -> dict[str, ChannelSettings]:
    channels: dict[str, ChannelSettings] = {}
    for name, spec in data.items():
        validate_identifier(name, "channel name")
        if not isinstance(spec, dict):
            raise ConfigError(f"[channels.{name}] must be a table")
        options = dict(spec)
        kind = options.pop("type", None)
        if kind not in CHANNEL_TYPES:
            raise ConfigError(f"[channels.{name}] type {kind!r} is not one of {', '.join(CHANNEL_TYPES)}")
        channels[name] = ChannelSettings(name=name, type=kind, options=options)
    return channels


def default_settings(landing_root: Path, warehouse_path: Path) -> Settings:
    """Spec defaults; facilities are taken from the files found in the landing directory."""
    return Settings(landing_root=landing_root, warehouse_path=warehouse_path)


def render_settings(settings: Settings) -> str:
    """Write settings back as TOML (the demo writes its own configuration with this)."""
    t = settings.thresholds
    lines = [
        "# ChartLedger configuration. Secrets never go here: use environment variables.",
        "[chartledger]",
        f'landing_root = "{settings.landing_root}"',
        f'warehouse = "{settings.warehouse_path}"',
        "facilities = [" + ", ".join(f'"{f}"' for f in settings.facilities) + "]",
        f"pay_period_first_end = {settings.pay_period_first_end.isoformat()}",
        f'timezone = "{settings.timezone}"',
        "",
        "[thresholds]",
    ]
    for f in fields(t):
        value = getattr(t, f.name)
        lines.append(f'{f.name} = "{value}"' if isinstance(value, Decimal) else f"{f.name} = {value}")
    lines += [
        "",
        "[duckdb]",
        f'memory_limit = "{settings.duckdb.memory_limit}"',
        f"threads = {settings.duckdb.threads}",
        "",
    ]
    from reconcile.feeds import FEEDS

    for name, feed in FEEDS.items():
        channel = settings.feeds.get(name, FeedChannel())
        lines += [
            f"[feeds.{name}]  # {feed.feed_id}, {feed.source_system}",
            f'channel = "{channel.channel}"',
            f'location = "{channel.location or feed.pattern_text}"',
            "",
        ]
    return "\n".join(lines)


def _date(value: object, what: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{what} {value!r} is not a date YYYY-MM-DD") from exc


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()
