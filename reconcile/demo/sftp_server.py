"""The demo health system's SFTP server: one directory served read/write over SFTP on loopback.

asyncssh runs in a background thread with its own event loop; the directory is the server's
chroot, so a client can reach nothing outside it. Password and public-key logins for one user,
a host key generated on start (or kept in a file so its fingerprint survives restarts), and
fault injection for tests (a dropped connection after N bytes of a file, a crafted listing).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import posixpath
import stat
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncssh

log = logging.getLogger(__name__)


@dataclass
class SftpFaults:
    """Faults the server injects (tests of the SFTP channel); each fires a bounded number of times.

    `drop_after_bytes`: abort the whole connection once a read of a file whose path ends with
    `drop_suffix` reaches past that many bytes, `drop_times` times. `extra_names`: names added
    to the listing of a directory (path as the client sees it, e.g. "/ehr/adt"), as regular files
    of `extra_size` bytes that cannot be opened: a crafted, hostile listing. `first_reads` records
    (path, offset) of the first read of every opened file, so a test can see a resumed download.
    """

    drop_after_bytes: int | None = None
    drop_suffix: str = ""
    drop_times: int = 1
    extra_names: dict[str, list[str]] = field(default_factory=dict)
    extra_size: int = 10
    drops_done: int = 0
    first_reads: list[tuple[str, int]] = field(default_factory=list)

    def should_drop(self, path: str, end_offset: int) -> bool:
        if self.drop_after_bytes is None or self.drops_done >= self.drop_times:
            return False
        if not path.endswith(self.drop_suffix) or path.endswith(".ctl"):
            return False
        if end_offset <= self.drop_after_bytes:
            return False
        self.drops_done += 1
        return True


class _Server(asyncssh.SSHServer):
    """Authentication for the one demo user: a password and/or authorized public keys."""

    def __init__(self, username: str, password: str | None, keys: Sequence[asyncssh.SSHKey],
                 connections: set[asyncssh.SSHServerConnection]) -> None:
        self._username = username
        self._password = password
        self._keys = {key.public_data for key in keys}
        self._connections = connections
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self._conn)  # type: ignore[arg-type]

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return self._password is not None

    def validate_password(self, username: str, password: str) -> bool:
        return (self._password is not None and username == self._username
                and hmac.compare_digest(password.encode(), self._password.encode()))

    def public_key_auth_supported(self) -> bool:
        return bool(self._keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._username and key.public_data in self._keys


class _ChrootSftp(asyncssh.SFTPServer):
    """asyncssh's SFTP server, chrooted to the served directory, with the faults of `SftpFaults`."""

    def __init__(self, chan: asyncssh.SSHServerChannel, root: Path, faults: SftpFaults) -> None:
        super().__init__(chan, chroot=str(root).encode())
        self._faults = faults
        self._paths: dict[int, str] = {}
        self._read_before: set[int] = set()
        self._dropping = False

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        file_obj = super().open(path, pflags, attrs)
        self._paths[id(file_obj)] = _client_path(path)
        return file_obj

    def close(self, file_obj: object) -> None:
        self._paths.pop(id(file_obj), None)
        self._read_before.discard(id(file_obj))
        super().close(file_obj)

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        data = super().read(file_obj, offset, size)
        path = self._paths.get(id(file_obj), "")
        if id(file_obj) not in self._read_before:
            self._read_before.add(id(file_obj))
            self._faults.first_reads.append((path, offset))
        if not self._dropping and self._faults.should_drop(path, offset + len(data)):
            self._dropping = True
            log.info("demo SFTP server: dropping the connection while reading %s (fault)", path)
            self.connection.abort()
        return data  # type: ignore[return-value]

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        async for name in super().scandir(path):
            yield name
        for extra in self._faults.extra_names.get(_client_path(path), []):
            attrs = asyncssh.SFTPAttrs(type=asyncssh.FILEXFER_TYPE_REGULAR,
                                       size=self._faults.extra_size,
                                       permissions=stat.S_IFREG | 0o644)
            yield asyncssh.SFTPName(extra.encode(), attrs=attrs)


def _client_path(path: bytes) -> str:
    return posixpath.normpath("/" + path.decode("utf-8", "replace").lstrip("/"))


class DemoSftpServer:
    """An SFTP server for `root` on `host` (loopback) and a free port; start()/stop() or `with`."""

    def __init__(self, root: Path, *, username: str = "chartledger", password: str | None = None,
                 authorized_keys: Sequence[str] = (), host: str = "127.0.0.1", port: int = 0,
                 host_key_path: Path | None = None, faults: SftpFaults | None = None) -> None:
        if password is None and not authorized_keys:
            raise ValueError("the demo SFTP server needs a password or an authorized key")
        self.root = Path(root).resolve()
        self.username = username
        self.host = host
        self.faults = faults or SftpFaults()
        self._password = password
        self._client_keys = [asyncssh.import_public_key(k) for k in authorized_keys]
        self._wanted_port = port
        self._host_key = _host_key(host_key_path)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: Any = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self.port = 0

    @property
    def fingerprint(self) -> str:
        """The host key's fingerprint as OpenSSH prints it (`SHA256:<base64>`)."""
        return self._host_key.get_fingerprint("sha256")

    @property
    def host_public_key(self) -> str:
        """The host's public key, `<type> <base64>` (the OpenSSH form without comment)."""
        return " ".join(self._host_key.export_public_key("openssh").decode().split()[:2])

    @property
    def known_hosts_line(self) -> str:
        """A known_hosts entry pinning this server's host key at its host and port."""
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{name} {self.host_public_key}"

    def start(self) -> DemoSftpServer:
        if self._thread is not None:
            raise RuntimeError("the demo SFTP server is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="demo-sftp", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._acceptor = asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout=30)
        except BaseException:
            self._stop_loop()
            raise
        self.port = self._acceptor.get_port()
        log.info("demo SFTP server for %s on %s:%d", self.root, self.host, self.port)
        return self

    async def _listen(self) -> Any:
        return await asyncssh.listen(
            self.host, self._wanted_port, server_host_keys=[self._host_key],
            server_factory=lambda: _Server(self.username, self._password, self._client_keys,
                                           self._connections),
            sftp_factory=lambda chan: _ChrootSftp(chan, self.root, self.faults),
            allow_scp=False, login_timeout=30)

    def stop(self) -> None:
        """Close the listener and every open connection, then end the loop's thread."""
        if self._loop is None:
            return
        if self._acceptor is not None:
            acceptor, self._acceptor = self._acceptor, None

            async def close() -> None:
                acceptor.close()
                await acceptor.wait_closed()
                for conn in list(self._connections):
                    conn.close()
                    await conn.wait_closed()
                current = asyncio.current_task()
                pending = [t for t in asyncio.all_tasks() if t is not current]
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

            try:
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            except Exception:  # noqa: BLE001 - stopping must always end the thread
                log.warning("demo SFTP server did not close cleanly", exc_info=True)
        self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop, self._thread = None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

    def __enter__(self) -> DemoSftpServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _host_key(path: Path | None) -> asyncssh.SSHKey:
    """The server's host key: read from `path`, or generated (and written there, mode 0600)."""
    if path is not None and path.is_file():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(key.export_private_key("openssh"))
    return key
