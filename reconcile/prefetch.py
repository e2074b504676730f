"""Run an iterator in a worker thread, a few items ahead of its consumer.

Staging overlaps parsing and pandera validation (Python, in the worker) with DuckDB inserts (the
caller's thread, which releases the GIL while DuckDB works). At most `depth` items wait, so memory
stays bounded; an exception in the worker is raised in the consumer; a consumer that stops early
stops the worker.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield what `items` yields, produced in a worker thread up to `depth` items ahead."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, who raises it
            put(_Failed(exc))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator's own clean-up runs here, not at collection
                close()
        put(_DONE)

    worker = threading.Thread(target=work, name="chartledger-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
