"""Start dagster-webserver and dagster-daemon on loopback for a test, and talk GraphQL to them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Services:
    base_url: str
    logs: Path
    _start_daemon: Callable[[], None] | None = field(default=None, repr=False)

    def start_daemon(self) -> None:
        """Start the daemon held back by `dagster_services(..., daemon_later=True)`."""
        assert self._start_daemon is not None, "the daemon was started with the webserver"
        self._start_daemon()
        self._start_daemon = None

    def graphql(self, query: str, variables: dict | None = None, timeout_s: float = 60) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.base_url}/graphql", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer["errors"]
        return answer["data"]


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM every process group first, then wait for them together: each service takes
    seconds to stop, and waiting for one before signalling the next added those up."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def dagster_services(env: dict[str, str], logs: Path, start_timeout_s: float = 180,
                     daemon_later: bool = False) -> Iterator[Services]:
    """The webserver and the daemon, each in its own process group, stopped whatever happens.

    daemon_later: start only the webserver; the test starts the daemon (`start_daemon()`) when
    it has submitted its work. The daemon's backfill loop looks for new backfills right as it
    starts and then only every 30 s (fixed in Dagster), so a backfill submitted to a running
    daemon waited up to 30 s before any of its runs was queued."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    workspace = ["-w", str(REPO / "workspace.yaml")]
    commands = {
        "webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
                      *workspace],
        "daemon": [str(BIN / "dagster-daemon"), "run", *workspace],
    }
    # create the instance's storage once, before three processes (webserver, its code server,
    # daemon) would race to create and stamp the same SQLite schema
    subprocess.run([str(BIN / "dagster"), "instance", "migrate"], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    processes: list[subprocess.Popen] = []
    outputs = []

    def start(name: str) -> None:
        out = (logs / f"{name}.log").open("wb")
        outputs.append(out)
        processes.append(subprocess.Popen(commands[name], cwd=REPO, env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start("webserver")
        if not daemon_later:
            start("daemon")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_timeout_s
        while True:
            for process in processes:
                assert process.poll() is None, f"a Dagster service exited: see {logs}"
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"webserver did not answer: see {logs}"
                time.sleep(0.25)
        yield Services(base, logs, (lambda: start("daemon")) if daemon_later else None)
    finally:
        _stop(list(reversed(processes)))
        for out in outputs:
            out.close()
