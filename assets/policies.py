"""Retry policies: channel steps (reading or fetching a feed) retry with exponential backoff.

A source system that is briefly unreachable, or a share that is remounting, should not fail the
night. CHARTLEDGER_CHANNEL_RETRY_DELAY_S sets the first delay (default 30 s; tests use less).
"""

import os

import dagster as dg

CHANNEL_RETRIES = 3


def channel_retry_policy() -> dg.RetryPolicy:
    """3 retries after 30 s, 60 s and 120 s (+/- jitter), for every step that talks to a channel."""
    delay = float(os.environ.get("CHARTLEDGER_CHANNEL_RETRY_DELAY_S", "30"))
    return dg.RetryPolicy(max_retries=CHANNEL_RETRIES, delay=delay,
                          backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


CHANNEL_RETRY_POLICY = channel_retry_policy()
