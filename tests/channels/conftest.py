"""SFTP servers on loopback for the channel tests: the demo's asyncssh server and OpenSSH's sshd.

Both are started once per session and serve a base folder; every test gets a fresh subfolder of
it as its remote root (`sftp_site`), so tests never see each other's files.
"""

from __future__ import annotations

import getpass
import itertools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from reconcile.channels.sftp import SftpChannelConfig
from reconcile.demo.sftp_server import DemoSftpServer, SftpFaults

SSHD = Path("/usr/sbin/sshd")
DEMO_PASSWORD = "demo-sftp-password"
_counter = itertools.count()


@dataclass(frozen=True)
class ClientKey:
    private_key_file: Path
    public_line: str


@dataclass
class SftpSite:
    """One test's view of a running SFTP server: where its remote files live and how to log in."""

    kind: str  # asyncssh | openssh
    served: Path  # the test's remote root on local disk (write the "remote" files here)
    remote_root: str  # the same folder as the SFTP client names it
    host: str
    port: int
    username: str
    known_hosts: Path
    fingerprint: str
    client_key: ClientKey
    server: DemoSftpServer | None = None

    def config(self, **overrides: Any) -> SftpChannelConfig:
        """A channel config for this site (key login, known_hosts pin, fast test backoff)."""
        options = {
            "host": self.host, "port": self.port, "username": self.username,
            "remote_root": self.remote_root, "known_hosts": str(self.known_hosts),
            "private_key_file": str(self.client_key.private_key_file),
            "connect_timeout_s": 5, "io_timeout_s": 5, "retries": 3, "backoff_base_s": 0.01,
            "backoff_cap_s": 0.05,
        }
        locations = overrides.pop("locations", None)
        env = overrides.pop("env", {})
        options.update(overrides)
        options = {k: v for k, v in options.items() if v is not None}
        return SftpChannelConfig.from_options(options, env, name="test_sftp", locations=locations)

    @property
    def faults(self) -> SftpFaults:
        assert self.server is not None, "fault injection needs the asyncssh server"
        return self.server.faults


@pytest.fixture(scope="session")
def client_key(tmp_path_factory) -> ClientKey:
    folder = tmp_path_factory.mktemp("sftp_client_key")
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = folder / "id_ed25519"
    path.touch(mode=0o600)
    path.write_bytes(key.export_private_key("openssh"))
    public = " ".join(key.export_public_key("openssh").decode().split()[:2])
    return ClientKey(path, public)


@pytest.fixture(scope="session")
def asyncssh_server(tmp_path_factory, client_key) -> Iterator[DemoSftpServer]:
    root = tmp_path_factory.mktemp("asyncssh_served")
    with DemoSftpServer(root, password=DEMO_PASSWORD,
                        authorized_keys=[client_key.public_line]) as server:
        yield server


@dataclass(frozen=True)
class OpenSshServer:
    base: Path
    host: str
    port: int
    public_key: str
    fingerprint: str


@pytest.fixture(scope="session")
def openssh_server(tmp_path_factory, client_key) -> Iterator[OpenSshServer]:
    """Debian's sshd on a free loopback port with its own config, host key and authorized keys."""
    if not SSHD.is_file():
        pytest.skip(f"{SSHD} is not installed (Debian package openssh-server; scripts/setup "
                    "installs it when run as root)")
    folder = tmp_path_factory.mktemp("openssh")
    base = folder / "served"
    base.mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key_file = folder / "ssh_host_ed25519_key"
    host_key_file.touch(mode=0o600)
    host_key_file.write_bytes(host_key.export_private_key("openssh"))
    authorized = folder / "authorized_keys"
    authorized.write_text(client_key.public_line + "\n", encoding="utf-8")
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key_file}",
        f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {authorized}",
        "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
        f"AllowUsers {getpass.getuser()}", "Subsystem sftp internal-sftp",
        f"ForceCommand internal-sftp -d {base}", "LogLevel ERROR", "",
    ]), encoding="utf-8")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder
    log = (folder / "sshd.log").open("wb")
    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, process, folder / "sshd.log")
        public = " ".join(host_key.export_public_key("openssh").decode().split()[:2])
        yield OpenSshServer(base, "127.0.0.1", port, public, host_key.get_fingerprint("sha256"))
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on port {port}: {log.read_text(errors='replace')}")


def _site(request, client_key: ClientKey, tmp_path: Path, kind: str) -> SftpSite:
    unique = f"t{next(_counter)}"
    known_hosts = tmp_path / "known_hosts"
    if kind == "asyncssh":
        server: DemoSftpServer = request.getfixturevalue("asyncssh_server")
        server.faults = SftpFaults()
        served = server.root / unique
        served.mkdir()
        known_hosts.write_text(server.known_hosts_line + "\n", encoding="utf-8")
        return SftpSite(kind, served, f"/{unique}", server.host, server.port, server.username,
                        known_hosts, server.fingerprint, client_key, server)
    sshd: OpenSshServer = request.getfixturevalue("openssh_server")
    served = sshd.base / unique
    served.mkdir()
    known_hosts.write_text(f"[{sshd.host}]:{sshd.port} {sshd.public_key}\n", encoding="utf-8")
    return SftpSite(kind, served, str(served), sshd.host, sshd.port, getpass.getuser(), known_hosts,
                    sshd.fingerprint, client_key)


@pytest.fixture(params=["asyncssh", "openssh"])
def sftp_site(request, client_key, tmp_path) -> Iterator[SftpSite]:
    """A fresh remote folder on each SFTP server (the test runs once per server)."""
    site = _site(request, client_key, tmp_path, request.param)
    yield site
    shutil.rmtree(site.served, ignore_errors=True)


@pytest.fixture()
def demo_sftp_site(request, client_key, tmp_path) -> Iterator[SftpSite]:
    """A fresh remote folder on the demo's asyncssh server (for fault injection)."""
    site = _site(request, client_key, tmp_path, "asyncssh")
    yield site
    site.server.faults = SftpFaults()  # type: ignore[union-attr]
    shutil.rmtree(site.served, ignore_errors=True)
