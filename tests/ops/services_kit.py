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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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

    def graphql(self, query: str, variables: dict | None = None, timeout_s: float = 60) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.base_url}/graphql", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer["errors"]
        return answer["data"]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def dagster_services(env: dict[str, str], logs: Path, start_timeout_s: float = 180
                     ) -> Iterator[Services]:
    """The webserver and the daemon, each in its own process group, stopped whatever happens."""
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
    try:
        for name, command in commands.items():
            out = (logs / f"{name}.log").open("wb")
            outputs.append(out)
            processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                              stderr=subprocess.STDOUT, start_new_session=True))
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
                time.sleep(1)
        yield Services(base, logs)
    finally:
        for process in reversed(processes):
            _stop(process)
        for out in outputs:
            out.close()
