"""Parse a large HL7 v2 or FHIR NDJSON file in worker processes, batch for batch as in-thread.

The pure-Python readers hold the GIL: in one thread they are the limit of staging (about 17 s
per million FT1 segments). A file of at least `min_bytes` is cut at record boundaries into byte
ranges (HL7: before a segment that starts `MSH`, after a CR or LF; NDJSON: after a LF), and
warm worker processes run the same reader on the ranges a few ranges ahead of the parent.

What the parent gets is exactly what the in-thread reader yields, so everything after it
(site mapping, pandera validation, quarantine, inserts, the control-file count) is unchanged:

- record numbers: a worker numbers its range's records from 1 and says how many numbers it
  used; the parent shifts each range by the numbers of the ranges before it. Every MSH segment
  ends whatever came before it (a message, or segments without MSH), and NDJSON numbers are
  line numbers, so a range's records are exactly the file's.
- batches: validation is per batch (a duplicate key is rejected within its batch), so the
  parent cuts the ranges' rows into the in-thread reader's batches: after a record that added
  rows, once the rows and issues since the last cut reach BATCH_ROWS (`Rebatcher`).
- a file-level rejection (bad UTF-8) found by a worker is worded by the in-thread reader, which
  the parent runs over the file to raise its exact FileRejected.

Validation stays in the caller's (prefetch) thread: it needs the cut batches, and it is about a
tenth of the reading cost. Processes start from a forkserver (never fork from a process whose
DuckDB threads exist) and stay warm across files; at most two ranges per worker are in flight
(back-pressure); ranges are read from the file by each worker (no whole-file read in Python).
A worker that dies fails the load with ParseWorkerDied (the caller rolls the file back) and the
pool is replaced for the next file. Logs carry file names and counts only.

Settings (environment): CHARTLEDGER_PARSE_PROCESSES (worker count; 0 = always in-thread;
default: the CPU count, at most 4), CHARTLEDGER_PARSE_PROCESS_MIN_BYTES (default 16 MiB),
CHARTLEDGER_PARSE_RANGE_BYTES (default 4 MiB).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import mmap
import multiprocessing as mp
import os
import re
import signal
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reconcile.formats import fhir, hl7v2, records
from reconcile.formats.csvfile import HeaderReport
from reconcile.formats.records import FileRejected, RecordBatch, RowIssue, Span

log = logging.getLogger(__name__)

ENV_WORKERS = "CHARTLEDGER_PARSE_PROCESSES"
ENV_MIN_BYTES = "CHARTLEDGER_PARSE_PROCESS_MIN_BYTES"
ENV_RANGE_BYTES = "CHARTLEDGER_PARSE_RANGE_BYTES"
DEFAULT_MIN_BYTES = 16 << 20
DEFAULT_RANGE_BYTES = 4 << 20
RANGES_PER_WORKER = 2  # in flight per worker process: back-pressure

# feeds whose files can be cut at record boundaries, and how
KINDS = {"adt": "hl7", "charges": "hl7", "procedures": "ndjson", "med_administrations": "ndjson"}

# TEST-ONLY: range index -> "kill" (the worker SIGKILLs itself) or "raise" (a reader error)
FAULTS: dict[int, str] = {}


class ParseWorkerDied(RuntimeError):
    """A parse worker process ended without answering (killed, out of memory)."""


@dataclass(frozen=True)
class Settings:
    workers: int
    min_bytes: int
    range_bytes: int

    @classmethod
    def from_env(cls) -> Settings:
        default_workers = min(os.cpu_count() or 1, 4)
        return cls(workers=int(os.environ.get(ENV_WORKERS, default_workers)),
                   min_bytes=int(os.environ.get(ENV_MIN_BYTES, DEFAULT_MIN_BYTES)),
                   range_bytes=max(int(os.environ.get(ENV_RANGE_BYTES, DEFAULT_RANGE_BYTES)), 1))


def read_batches(feed: str, path: Path, report: HeaderReport, rename: dict[str, str] | None,
                 settings: Settings | None = None) -> Iterator[RecordBatch]:
    """The feed reader's batches of `path`: from worker processes for a large splittable file,
    else from the reader in this thread. Either way the same batches."""
    from reconcile.readers import READERS

    settings = settings or Settings.from_env()
    pool = _pool(settings.workers) if uses_processes(feed, path, settings) else None
    if pool is None:
        return READERS[feed](path, report, rename)
    return _parallel(feed, path, settings, pool)


def uses_processes(feed: str, path: Path, settings: Settings) -> bool:
    return (feed in KINDS and settings.workers >= 1
            and path.stat().st_size >= settings.min_bytes
            and not mp.current_process().daemon)  # a daemon process may not start children


_MSH_LINE = re.compile(rb"[\r\n]MSH")


def split(path: Path, kind: str, range_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about `range_bytes` covering the file, each starting at a record boundary
    (the first at 0). Only the bytes around each cut are looked at (mmap)."""
    size = path.stat().st_size
    if size == 0:
        return [(0, 0)]
    cuts = [0]
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = range_bytes
        while pos < size:
            if kind == "hl7":  # a segment starting MSH, at or after pos
                found = _MSH_LINE.search(mm, pos - 1)
                cut = found.start() + 1 if found else size
            else:  # a line start at or after pos
                newline = mm.find(b"\n", pos - 1)
                cut = newline + 1 if newline >= 0 else size
            if cut >= size:
                break
            cuts.append(cut)
            pos = cut + range_bytes
    cuts.append(size)
    return list(zip(cuts, cuts[1:], strict=False))


class Rebatcher:
    """Cuts a stream of pieces (a frame of rows and the issues, in record order, numbered as in
    the file) into the batches of the in-thread readers' builders: those check after each record
    that added rows whether its rows plus issues since the last cut reach `limit`, and cut."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or records.BATCH_ROWS  # the builders' limit, read when they check it
        self.frames: list[pd.DataFrame] = []
        self.issues: list[RowIssue] = []
        self.weight = 0
        self.last = 0  # the highest record number seen
        self.template: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame, issues: list[RowIssue]) -> Iterator[RecordBatch]:
        if self.template is None:
            self.template = frame.iloc[0:0]
        numbers = frame["row_number"].to_numpy()
        issue_numbers = np.fromiter((i.row_number for i in issues), dtype=np.int64,
                                    count=len(issues))
        if len(numbers):
            starts = np.flatnonzero(np.r_[True, numbers[1:] != numbers[:-1]])
            row_records = numbers[starts]
            row_weights = np.diff(np.r_[starts, len(numbers)])
        else:
            row_records = row_weights = np.zeros(0, dtype=np.int64)
        records = np.concatenate([row_records, issue_numbers])
        order = np.argsort(records, kind="stable")
        records = records[order]
        if len(records) and (records[0] <= self.last or (np.diff(records) <= 0).any()):
            # the readers give a record either rows or one issue, in record order
            raise RuntimeError("parse ranges out of record order (internal error)")
        if len(records):
            self.last = int(records[-1])
        weights = np.concatenate([row_weights, np.ones(len(issue_numbers), dtype=np.int64)])[order]
        good = np.flatnonzero(np.concatenate([np.ones(len(row_records), dtype=bool),
                                              np.zeros(len(issue_numbers), dtype=bool)])[order])
        total = np.cumsum(weights)
        good_total = total[good]
        row_at = issue_at = used = 0
        while True:
            k = int(np.searchsorted(good_total, used + self.limit - self.weight, side="left"))
            if k >= len(good):
                break
            j = good[k]
            last = records[j]
            row_end = int(np.searchsorted(numbers, last, side="right"))
            issue_end = int(np.searchsorted(issue_numbers, last, side="right"))
            self.frames.append(frame.iloc[row_at:row_end])
            self.issues.extend(issues[issue_at:issue_end])
            yield self._cut()
            row_at, issue_at, used = row_end, issue_end, int(total[j])
        if row_at < len(numbers):
            self.frames.append(frame.iloc[row_at:])
        self.issues.extend(issues[issue_at:])
        self.weight += (int(total[-1]) if len(total) else 0) - used

    def drain(self) -> Iterator[RecordBatch]:
        if self.frames or self.issues:
            yield self._cut()

    def _cut(self) -> RecordBatch:
        frames = [f for f in self.frames if len(f)]
        if not frames:
            assert self.template is not None
            frame = self.template.copy()
        elif len(frames) == 1:
            frame = frames[0].reset_index(drop=True)
        else:
            frame = pd.concat(frames, ignore_index=True)
        batch = RecordBatch(frame=frame, issues=self.issues)
        self.frames, self.issues, self.weight = [], [], 0
        return batch


# ---- worker side ---------------------------------------------------------------------------

_ENCOUNTERS: dict[str, fhir.EncounterIndex] = {}  # the current file's, by load token


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it ends the pool
    gc.freeze()  # imported modules: left out of collections, as staging does in the parent


def _parse_range(feed: str, path_text: str, start: int, end: int, token: str,
                 fault: str | None) -> tuple[list[tuple[pd.DataFrame, list[RowIssue]]], int]:
    """Read bytes [start, end) of the file with the feed's reader: its pieces (frames and
    issues, records numbered from 1) and how many record numbers the range used."""
    if fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "raise":
        raise KeyError("FT1-7 (injected fault)")
    path = Path(path_text)
    span = Span(start, end)
    if KINDS[feed] == "ndjson":
        encounters = _ENCOUNTERS.get(token)
        if encounters is None:  # the Encounter index of this file, once per worker
            _ENCOUNTERS.clear()
            encounters = _ENCOUNTERS[token] = fhir.EncounterIndex(path)
        read = fhir.read_procedures if feed == "procedures" else fhir.read_med_administrations
        batches = read(path, span, encounters)
    else:
        batches = (hl7v2.read_charges if feed == "charges" else hl7v2.read_adt)(path, span)
    pieces = [(batch.frame, batch.issues) for batch in batches]
    return pieces, span.records


# ---- parent side ---------------------------------------------------------------------------

_POOL: ProcessPoolExecutor | None = None
_POOL_WORKERS = 0
_POOL_LOCK = threading.Lock()
_UNAVAILABLE = False  # the workers could not start here once: parse in-thread from then on


def _pool(workers: int) -> ProcessPoolExecutor | None:
    """The warm pool of `workers` processes, started (and each worker answered) on first use;
    None when worker processes cannot start in this program (then files parse in-thread)."""
    global _POOL, _POOL_WORKERS, _UNAVAILABLE
    with _POOL_LOCK:
        if _UNAVAILABLE:
            return None
        if _POOL is not None and workers == _POOL_WORKERS:
            return _POOL
        if _POOL is not None:
            _POOL.shutdown(wait=True, cancel_futures=True)
            _POOL = None
        context = mp.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init)
        try:
            for future in [pool.submit(os.getpid) for _ in range(workers)]:
                future.result(timeout=120)
        except Exception as exc:  # e.g. a main script without `if __name__ == "__main__":`
            pool.shutdown(wait=False, cancel_futures=True)
            _UNAVAILABLE = True
            log.warning("parse worker processes could not start (%s); parsing in-thread",
                        type(exc).__name__)
            return None
        _POOL, _POOL_WORKERS = pool, workers
        return pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is pool:
            _POOL = None
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown() -> None:
    """Stop the warm worker processes (they are started again when needed)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def warm(settings: Settings | None = None) -> bool:
    """Start the worker processes now, not on the first large file; False if they cannot."""
    settings = settings or Settings.from_env()
    return settings.workers >= 1 and _pool(settings.workers) is not None


def _shift(frame: pd.DataFrame, issues: list[RowIssue], offset: int
           ) -> tuple[pd.DataFrame, list[RowIssue]]:
    if offset:
        frame["row_number"] = frame["row_number"].to_numpy() + offset
        issues = [dataclasses.replace(i, row_number=i.row_number + offset) for i in issues]
    return frame, issues


def _parallel(feed: str, path: Path, settings: Settings, pool: ProcessPoolExecutor
              ) -> Iterator[RecordBatch]:
    spans = split(path, KINDS[feed], settings.range_bytes)
    token = uuid.uuid4().hex
    log.info("parsing %s (%s) in %d ranges on %d worker processes", path.name, feed, len(spans),
             settings.workers)
    pending: deque[tuple[int, Future[Any]]] = deque()
    rebatcher = Rebatcher()
    offset = submitted = 0
    try:
        while submitted < len(spans) or pending:
            while submitted < len(spans) and len(pending) < RANGES_PER_WORKER * settings.workers:
                start, end = spans[submitted]
                try:
                    future = pool.submit(_parse_range, feed, str(path), start, end, token,
                                         FAULTS.get(submitted))
                except BrokenProcessPool as exc:
                    _discard(pool)
                    raise ParseWorkerDied(f"the parse worker processes are gone ({feed} file "
                                          f"{path.name}); nothing of the file is loaded") from exc
                pending.append((submitted, future))
                submitted += 1
            index, future = pending.popleft()
            start, end = spans[index]
            try:
                pieces, records = future.result()
            except BrokenProcessPool as exc:
                _discard(pool)
                raise ParseWorkerDied(
                    f"a parse worker process died reading {feed} file {path.name} (bytes "
                    f"{start}-{end}, records after {offset}); nothing of the file is loaded"
                ) from exc
            except FileRejected:
                _raise_in_thread_rejection(feed, path)
                raise
            except Exception as exc:
                exc.add_note(f"in a parse worker process: {feed} file {path.name}, bytes "
                             f"{start}-{end}, records after {offset} of the file")
                raise
            for frame, issues in pieces:
                yield from rebatcher.add(*_shift(frame, issues, offset))
            offset += records
        yield from rebatcher.drain()
        log.info("parsed %s: %d records in %d ranges", path.name, offset, len(spans))
    finally:
        for _, future in pending:
            future.cancel()


def _raise_in_thread_rejection(feed: str, path: Path) -> None:
    """Raise the FileRejected of the in-thread reader (its wording: which byte of which chunk)."""
    from reconcile.readers import READERS

    for _ in READERS[feed](path, HeaderReport(), None):
        pass
