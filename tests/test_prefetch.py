"""The worker-thread prefetch that overlaps parsing/validation with inserts."""

from __future__ import annotations

import threading

import pytest

from reconcile.prefetch import prefetch


def test_items_arrive_in_order_and_complete():
    assert list(prefetch(iter(range(1000)), depth=2)) == list(range(1000))


def test_an_error_in_the_producer_is_raised_in_the_consumer_after_earlier_items():
    def items():
        yield 1
        yield 2
        raise ValueError("row 3 of feed x is broken")

    seen = []
    with pytest.raises(ValueError, match="row 3 of feed x"):
        for item in prefetch(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_the_producer_runs_at_most_depth_items_ahead_and_stops_when_the_consumer_does():
    produced = []

    def items():
        for i in range(100):
            produced.append(i)
            yield i

    stream = prefetch(items(), depth=2)
    assert next(stream) == 0
    stream.close()  # the consumer gives up: the worker must stop, not run to the end
    assert len(produced) <= 4
    assert not any(t.name == "chartledger-prefetch" for t in threading.enumerate())
