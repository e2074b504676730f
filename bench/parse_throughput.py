"""Parsing + validation throughput, end to end into staging (issue 3).

Builds a DFT^P03 file with N FT1 segments and a cabinet-transactions CSV with N rows from the demo
generator's records (unique ids), then loads each with `load_landed_file` into a fresh warehouse in
a child process of its own and reports rows/s and peak RSS. Also compares the HL7 reader's message
rate with the `hl7` package's `hl7.parse` on the same messages (why we split fields ourselves).

Large HL7 and NDJSON files are parsed in worker processes (reconcile/parallel_parse.py): the
pool is started before the clock runs (it stays warm across the files of a run) and its start-up
is reported apart, with the rate it would give if counted in. `--workers 0` measures the
in-thread path. The 1-minute load average is sampled every second during each load (other work
on the machine slows it: run timed benchmarks under `flock /tmp/chartledger-bench.lock`).

    .venv/bin/python bench/parse_throughput.py --rows 1000000 [--workers N] [--feeds charges]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DAY = dt.date(2026, 10, 5)


def build_inputs(root: Path, rows: int) -> tuple[Path, Path, list[str]]:
    """Landing files with `rows` FT1 segments and `rows` cabinet rows; returns sample messages."""
    from reconcile.demo.generator import GeneratorOptions, generate
    from tests.landing_kit import write_control

    sample = root / "sample"
    generate(sample, GeneratorOptions(start=DAY, days=1, visits_per_day=200, seed=3,
                                      defect_scale=0))
    stamp = DAY.strftime("%Y%m%d")
    dft_src = (sample / f"ehr/charges/DFT_NORTH_{stamp}.hl7").read_bytes().decode()
    messages = [m for m in dft_src.split("\n") if m.startswith("MSH")]
    landing = root / "landing"
    dft = landing / f"ehr/charges/DFT_NORTH_{stamp}.hl7"
    dft.parent.mkdir(parents=True)
    ft1 = count = 0
    with dft.open("w", newline="") as out:
        while ft1 < rows:
            segments = messages[count % len(messages)].split("\r")
            for i, seg in enumerate(segments):
                fields = seg.split("|")
                if fields[0] == "MSH":
                    fields[9] = f"B{count}"
                elif fields[0] == "FT1":
                    fields[2] = f"BT{ft1}"
                    ft1 += 1
                segments[i] = "|".join(fields)
            out.write("\r".join(segments) + "\n")
            count += 1
    write_control(dft, count)
    csv_src = (sample / f"pharmacy/ADC_NORTH_{stamp}.csv").read_bytes().decode().splitlines()
    header, body = csv_src[0], csv_src[1:]
    adc = landing / f"pharmacy/ADC_NORTH_{stamp}.csv"
    adc.parent.mkdir(parents=True)
    with adc.open("w", newline="") as out:
        out.write(header + "\r\n")
        for i in range(rows):
            out.write(f"BX{i}," + body[i % len(body)].split(",", 1)[1] + "\r\n")
    write_control(adc, rows)
    return dft, adc, messages[:2000]


def _load(landing: str, warehouse: str, feed: str, queue: mp.Queue) -> None:
    from reconcile import parallel_parse
    from reconcile.landing import discover
    from reconcile.staging import load_landed_file
    from reconcile.warehouse import Warehouse

    wh = Warehouse(Path(warehouse))
    wh.ensure_schema()
    files = [f for f in discover(Path(landing), DAY) if f.feed.name == feed]
    started = time.perf_counter()
    settings = parallel_parse.Settings.from_env()
    in_processes = parallel_parse.uses_processes(feed, files[0].path, settings)
    if in_processes:
        parallel_parse.warm(settings)
    pool_start = time.perf_counter() - started
    started = time.perf_counter()
    cpu = time.process_time()
    with wh.writer() as con:
        outcome = load_landed_file(con, files[0], "bench")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu  # of this (parent) process: validation, inserts, ...
    pool = parallel_parse._POOL  # peak RSS of the busiest worker process (VmHWM)
    children = max((_peak_rss_mb(pid) for pid in (pool._processes or {})), default=0.0) \
        if pool is not None else 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parallel_parse.shutdown()
    workers = settings.workers if in_processes else 0
    queue.put((outcome.outcome, outcome.rows_loaded, outcome.rows_rejected, seconds, peak,
               pool_start, workers, children, cpu))


def _peak_rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) / 1024


def measure(landing: Path, work: Path, feed: str) -> tuple:
    """Load the feed's file in a fresh child process; its results and the load averages seen."""
    queue: mp.Queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(
        target=_load, args=(str(landing), str(work / f"{feed}.duckdb"), feed, queue))
    loads: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc.start()
    result = queue.get()
    proc.join()
    done.set()
    sampler.join()
    loads = loads or [os.getloadavg()[0]]
    return (*result, max(loads), sum(loads) / len(loads))


def reader_rates(messages: list[str]) -> tuple[float, float]:
    import hl7

    from reconcile.formats.hl7v2 import Message

    started = time.perf_counter()
    for i, text in enumerate(messages):
        msg = Message(i + 1, text.split("\r"))
        for ft1 in msg.all("FT1"):
            msg.value(ft1, 7, 1)
    ours = len(messages) / (time.perf_counter() - started)
    started = time.perf_counter()
    for text in messages:
        parsed = hl7.parse(text)
        for ft1 in parsed.segments("FT1"):
            ft1(7)(1)(1)
    theirs = len(messages) / (time.perf_counter() - started)
    return ours, theirs


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                  .splitlines() if line.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} CPUs ({model}), {mem:.1f} GB RAM, Python {platform.python_version()}, " \
           f"commit {commit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=None,
                        help="parse worker processes (CHARTLEDGER_PARSE_PROCESSES; 0 = in-thread)")
    parser.add_argument("--feeds", default="charges,cabinet_transactions")
    parser.add_argument("--clean", action="store_true", help="remove --work afterwards")
    args = parser.parse_args()
    if args.workers is not None:
        os.environ["CHARTLEDGER_PARSE_PROCESSES"] = str(args.workers)
    feeds = args.feeds.split(",")
    work = args.work or Path(tempfile.mkdtemp(prefix="clparse-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"building {args.rows:,} FT1 segments and {args.rows:,} cabinet rows in {work} ...")
    dft, adc, messages = build_inputs(work, args.rows)
    ours, theirs = reader_rates(messages)
    rows = []
    for feed, target in (("charges", 50_000), ("cabinet_transactions", 200_000)):
        if feed not in feeds:
            continue
        (outcome, loaded, rejected, seconds, peak, pool_start, workers, children, cpu, load_max,
         load_mean) = measure(work / "landing", work, feed)
        rows.append((feed, loaded, rejected, outcome, seconds, loaded / seconds, peak, target,
                     pool_start, workers, children, cpu, load_max, load_mean))
    print(f"\nmachine: {machine()}")
    print(f"{'feed':<22}{'rows':>11}{'rejected':>9}{'seconds':>9}{'rows/s':>10}{'peak MB':>9}"
          f"{'target':>9}{'workers':>8}{'pool s':>7}{'rows/s+pool':>12}{'worker MB':>10}"
          f"{'parent cpu s':>13}{'load1 max/mean':>16}")
    for (feed, loaded, rejected, outcome, seconds, rate, peak, target, pool_start, workers,
         children, cpu, load_max, load_mean) in rows:
        with_pool = loaded / (seconds + pool_start)
        print(f"{feed:<22}{loaded:>11,}{rejected:>9,}{seconds:>9.1f}{rate:>10,.0f}{peak:>9,.0f}"
              f"{target:>9,}{workers:>8}{pool_start:>7.1f}{with_pool:>12,.0f}{children:>10,.0f}"
              f"{cpu:>13.1f}{load_max:>9.2f}/{load_mean:.2f}  {outcome}")
    print(f"HL7 reader: ours {ours:,.0f} messages/s, hl7.parse {theirs:,.0f} messages/s "
          f"({ours / theirs:.1f}x) on {len(messages):,} DFT messages")
    if args.work is None or args.clean:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
