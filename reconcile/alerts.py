"""Alerts: one line to the log and, when configured, a JSON POST to a webhook (no PHI in them)."""

from __future__ import annotations

import json
import logging
import os
import urllib.request

log = logging.getLogger("chartledger.alerts")

WEBHOOK_ENV = "CHARTLEDGER_ALERT_WEBHOOK"


def send_alert(title: str, details: dict[str, str], timeout_s: float = 10.0) -> bool:
    """Log the alert; POST it to $CHARTLEDGER_ALERT_WEBHOOK if set. True when delivered there.

    HTTPS certificates are verified by the standard library's default context (never disabled).
    """
    log.error("%s: %s", title, "; ".join(f"{k}={v}" for k, v in details.items()))
    url = os.environ.get(WEBHOOK_ENV, "")
    if not url:
        return False
    if not url.startswith(("https://", "http://")):
        log.error("%s is not an http(s) URL; alert not sent", WEBHOOK_ENV)
        return False
    body = json.dumps({"text": title, **details}).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except OSError as exc:
        log.error("alert webhook failed: %s", exc)
        return False
