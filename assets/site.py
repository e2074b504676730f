"""Site-wide settings the definitions need at load time: the time zone of schedules and partitions.

CHARTLEDGER_TIMEZONE wins; else `[chartledger] timezone` of CHARTLEDGER_CONFIG; else UTC.
"""

import os
from pathlib import Path

from reconcile.config import load_settings
from reconcile.sla import DEFAULT_TIMEZONE, validate_timezone

TIMEZONE_ENV = "CHARTLEDGER_TIMEZONE"


def site_timezone() -> str:
    """The IANA time zone the nightly and close schedules tick in."""
    explicit = os.environ.get(TIMEZONE_ENV, "")
    if explicit:
        return validate_timezone(explicit)
    config = os.environ.get("CHARTLEDGER_CONFIG", "")
    if config:
        return load_settings(Path(config)).timezone
    return DEFAULT_TIMEZONE


SITE_TIMEZONE = site_timezone()
