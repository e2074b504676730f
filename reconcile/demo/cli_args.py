"""Command-line arguments of `chartledger generate` (wired into the CLI by `reconcile.cli`)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from .generator import GeneratorOptions


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {value}")
    return value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {value}")
    return value


def _facilities(text: str) -> tuple[str, ...]:
    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    if not codes:
        raise argparse.ArgumentTypeError("at least one facility code is needed")
    return codes


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the generator's flags to a (sub)parser."""
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="landing root to write the feed files and truth.csv into")
    parser.add_argument("--start", required=True, type=_date, metavar="YYYY-MM-DD",
                        help="first extract date")
    parser.add_argument("--days", required=True, type=_positive, metavar="N",
                        help="number of extract dates")
    parser.add_argument("--facilities", type=_facilities, default=("NORTH", "SOUTH", "CHILD"),
                        metavar="NORTH,SOUTH,CHILD", help="comma-separated facility codes")
    parser.add_argument("--visits-per-day", type=_positive, default=40, metavar="N",
                        help="new visits per facility per day (default 40)")
    parser.add_argument("--seed", type=int, default=7, metavar="S", help="random seed (default 7)")
    parser.add_argument("--defect-scale", type=_scale, default=1.0, metavar="F",
                        help="multiplier of the default defect rates; 0 = clean data")


def options_from_args(ns: argparse.Namespace) -> tuple[Path, GeneratorOptions]:
    """The output directory and generator options of parsed arguments."""
    options = GeneratorOptions(start=ns.start, days=ns.days, facilities=tuple(ns.facilities),
                               visits_per_day=ns.visits_per_day, seed=ns.seed,
                               defect_scale=ns.defect_scale)
    return Path(ns.out), options
