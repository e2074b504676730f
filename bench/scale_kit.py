"""Helpers of the hospital-scale benchmarks (issue 8): the demo system at a given rows/day, peak
memory of a process (tree), load average, machine facts and RESULTS.md sections.

"Rows" of a day are the records its files put into staging: one per CSV row, NDJSON line, HL7
ADT message and DFT FT1 segment (a DFT message carries several charge lines, each one staging
row). That is what `ops.feed_status.rows_loaded` counts after the night's load.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"

# Nine facilities with distinct initials (the generator numbers cost centers for at most nine),
# one of them pediatric: a health system of about ten hospitals.
FACILITIES = ("NORTH", "SOUTH", "CHILD", "EAST", "WEST", "MAIN", "PARK", "LAKE", "HILL")
DAY = dt.timedelta(days=1)
FT1 = b"\rFT1|"


# --------------------------------------------------------------------------------------------
# Rows of a generated day
# --------------------------------------------------------------------------------------------

def _count_in_file(path: Path, needle: bytes) -> int:
    """Occurrences of `needle` in a file, read in 8 MiB chunks (no whole-file read)."""
    count, tail = 0, b""
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            data = tail + chunk
            count += data.count(needle)
            tail = data[-(len(needle) - 1):]
    return count


def staging_rows_of_day(landing: Path, day: dt.date) -> dict[str, int]:
    """Staging rows per feed that a generated extract date carries (from the control files;
    DFT files are scanned for FT1 segments)."""
    from reconcile.feeds import classify

    stamp = day.strftime("%Y%m%d")
    rows: dict[str, int] = {}
    for ctl in sorted(landing.rglob(f"*{stamp}*.ctl")):
        data = ctl.with_name(ctl.name[:-4])
        named = classify(data.relative_to(landing).as_posix())
        if named is None or named.extract_date != day:
            continue
        feed = named.feed.name
        if feed == "charges":
            n = _count_in_file(data, FT1)
        else:
            n = int(json.loads(ctl.read_text(encoding="utf-8"))["rows"])
        rows[feed] = rows.get(feed, 0) + n
    return rows


# --------------------------------------------------------------------------------------------
# Generating the demo system at a scale
# --------------------------------------------------------------------------------------------

def chartledger_bin() -> str:
    """The `chartledger` command of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name("chartledger")
    return str(candidate) if candidate.exists() else "chartledger"


@dataclass
class Generated:
    """One `chartledger generate` run: where, what, how long and how much memory."""

    out: Path
    start: dt.date
    days: int
    facilities: tuple[str, ...]
    visits_per_day: int
    seconds: float
    peak_rss_mb: float
    records: int = 0  # as the generator counts them (an HL7 message is one record)
    load_max: float = 0.0


def generate(out: Path, start: dt.date, days: int, facilities: tuple[str, ...],
             visits_per_day: int, seed: int = 7) -> Generated:
    """Run `chartledger generate` in a child process (timed, with the peak RSS of its tree)."""
    cmd = [chartledger_bin(), "generate", "--out", str(out), "--start", start.isoformat(),
           "--days", str(days), "--facilities", ",".join(facilities),
           "--visits-per-day", str(visits_per_day), "--seed", str(seed)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    with TreeSampler(proc.pid) as sampler:
        stdout, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"chartledger generate failed ({proc.returncode}): {stdout[-2000:]}")
    m = re.search(r"([\d,]+) rows", stdout)
    records = int(m.group(1).replace(",", "")) if m else 0
    return Generated(out, start, days, facilities, visits_per_day, seconds,
                     sampler.peak_mb, records)


@dataclass
class Calibration:
    """Staging rows of one steady-state day = fixed + per_visit x visits_per_day."""

    facilities: tuple[str, ...]
    day_index: int  # the day (0-based from the generation start) the rows were counted on
    fixed: float
    per_visit: float
    points: list[tuple[int, int]] = field(default_factory=list)

    def visits_for(self, rows_per_day: int) -> int:
        """Visits per facility per day that give about `rows_per_day` staging rows."""
        return max(1, round((rows_per_day - self.fixed) / self.per_visit))

    def rows_for(self, visits_per_day: int) -> int:
        return round(self.fixed + self.per_visit * visits_per_day)


def calibrate(work: Path, facilities: tuple[str, ...], day_index: int, start: dt.date,
              seed: int = 7, sizes: tuple[int, int] = (20, 60)) -> Calibration:
    """Generate two small systems and fit rows(day `day_index`) linearly in visits per day."""
    points = []
    for vpd in sizes:
        out = work / f"calibrate_{vpd}"
        generate(out, start, day_index + 1, facilities, vpd, seed)
        rows = sum(staging_rows_of_day(out, start + day_index * DAY).values())
        points.append((vpd, rows))
        _rmtree(out)
    (x1, y1), (x2, y2) = points
    per_visit = (y2 - y1) / (x2 - x1)
    return Calibration(facilities, day_index, y1 - per_visit * x1, per_visit, points)


def cached_calibration(work: Path, facilities: tuple[str, ...], day_index: int, start: dt.date,
                       seed: int = 7) -> Calibration:
    """calibrate(), kept in `work` for later runs with the same inputs."""
    path = work / f"calibration_{day_index}_{start}_{seed}_{len(facilities)}.json"
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return Calibration(facilities, day_index, data["fixed"], data["per_visit"],
                           [tuple(p) for p in data["points"]])
    cal = calibrate(work, facilities, day_index, start, seed)
    path.write_text(json.dumps({"fixed": cal.fixed, "per_visit": cal.per_visit,
                                "points": cal.points}), encoding="utf-8")
    return cal


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Memory and load
# --------------------------------------------------------------------------------------------

def _status_kb(pid: int | str, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def rss_mb(pid: int | str = "self") -> float:
    return _status_kb(pid, "VmRSS:") / 1024


def reset_peak() -> None:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")


def peak_mb() -> float:
    """This process's peak RSS (VmHWM) since start or the last reset_peak()."""
    return _status_kb("self", "VmHWM:") / 1024


def descendants(root: int) -> list[int]:
    """`root` and every process below it (from the ppid of each /proc entry)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, ()))
    return out


def tree_rss_mb(root: int) -> float:
    """Summed RSS of `root` and its descendants."""
    return sum(rss_mb(pid) for pid in descendants(root))


class TreeSampler:
    """Samples the summed RSS of a process tree and the 1-minute load average in a thread."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.root, self.interval = root, interval
        self.samples: list[tuple[float, float, float]] = []  # (time.time(), tree MB, load1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), tree_rss_mb(self.root), os.getloadavg()[0]))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return max((s[1] for s in self.samples), default=0.0)

    def between(self, t0: float, t1: float) -> tuple[float, float]:
        """(peak tree MB, max load1) of the samples taken between two time.time() stamps."""
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if not inside and self.samples:  # a stage shorter than the interval: the nearest sample
            inside = [min(self.samples, key=lambda s: abs(s[0] - (t0 + t1) / 2))]
        return (max((s[1] for s in inside), default=0.0),
                max((s[2] for s in inside), default=os.getloadavg()[0]))


class StackSampler:
    """A sampling profiler over every Python thread of this process (pyinstrument sees only the
    thread that starts it; staging parses in a worker thread). Each sample charges its interval
    to the innermost frame (self) and once to every function on the stack (total); a wait inside
    DuckDB or on a queue is charged to the Python call that waits."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.self_s: dict[str, float] = {}
        self.total_s: dict[str, float] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stack-sampler")

    @staticmethod
    def _name(code, thread: str) -> str:
        path = code.co_filename
        short = path.split(str(REPO) + "/", 1)[-1] if str(REPO) in path else \
            path.rsplit("site-packages/", 1)[-1]
        return f"[{thread}] {code.co_name} ({short}:{code.co_firstlineno})"

    def _run(self) -> None:
        me = threading.get_ident()
        last = time.perf_counter()
        while not self._stop.wait(self.interval):
            now = time.perf_counter()
            dt_s, last = now - last, now
            names = {t.ident: ("main" if t is threading.main_thread() else "worker")
                     for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                thread = names.get(ident, "worker")
                leaf = self._name(frame.f_code, thread)
                self.self_s[leaf] = self.self_s.get(leaf, 0.0) + dt_s
                seen = set()
                while frame is not None:
                    name = self._name(frame.f_code, thread)
                    if name not in seen:
                        seen.add(name)
                        self.total_s[name] = self.total_s.get(name, 0.0) + dt_s
                    frame = frame.f_back
            self.samples += 1

    def __enter__(self) -> StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def top(self, which: str = "self", n: int = 25) -> list[tuple[str, float]]:
        table = self.self_s if which == "self" else self.total_s
        return sorted(table.items(), key=lambda kv: -kv[1])[:n]


def load1() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(threshold: float, max_wait_s: float, poll_s: float = 30.0) -> float:
    """Wait (up to max_wait_s) until the 1-minute load average is below `threshold`."""
    deadline = time.monotonic() + max_wait_s
    while load1() >= threshold and time.monotonic() < deadline:
        print(f"  load average {load1():.2f} >= {threshold}: waiting ...", flush=True)
        time.sleep(poll_s)
    return load1()


# --------------------------------------------------------------------------------------------
# Machine, commit, RESULTS.md
# --------------------------------------------------------------------------------------------

def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info() -> dict:
    import duckdb

    cpu = next((ln.split(":", 1)[1].strip() for ln in
                Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
                if ln.startswith("model name")), platform.processor())
    mem_kb = _status_meminfo("MemTotal:")
    status = subprocess.run(["git", "status", "--porcelain", "--", "reconcile", "sql", "assets"],
                            cwd=REPO, capture_output=True, text=True).stdout
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "commit": _run(["git", "rev-parse", "--short", "HEAD"]),
            "dirty": [ln[3:] for ln in status.splitlines() if ln[3:]]}


def _status_meminfo(key: str) -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        return int(next(ln for ln in fh if ln.startswith(key)).split()[1])


def machine_line(m: dict) -> str:
    dirty = (f" (uncommitted engine changes in the working tree: {', '.join(m['dirty'])})"
             if m["dirty"] else "")
    return (f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM; Python "
            f"{m['python']}, DuckDB {m['duckdb']}; commit `{m['commit']}`{dirty}.")


def replace_section(heading: str, text: str, path: Path = RESULTS) -> None:
    """Put `text` (which starts with `heading`) in place of that section of RESULTS.md, or
    append it; other sections are left as they are."""
    body = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = body.find(heading + "\n")
    if start < 0:
        body = body.rstrip() + "\n\n" + text.rstrip() + "\n"
    else:
        end = body.find("\n## ", start + len(heading))
        body = body[:start] + text.rstrip() + "\n" + (body[end:] if end >= 0 else "")
    path.write_text(body, encoding="utf-8")
