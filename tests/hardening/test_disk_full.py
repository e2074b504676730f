"""A full disk while landing a file or writing the warehouse: a clear error, nothing corrupted or
half-visible, and the same work succeeds once there is space again.

The disk is a real size-limited tmpfs mounted for the test when it runs as root and the kernel
allows the mount (as in CI); elsewhere the write call is made to fail with ENOSPC instead (an
injected OSError, named as such). `DISK_KIND` says which one ran, and the tests print it.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconcile import faults
from reconcile.channels.base import landing_file
from reconcile.config import default_settings
from reconcile.feeds import FEEDS
from reconcile.landing import discover
from reconcile.warehouse import Warehouse, WarehouseDiskFullError
from tests.engine_kit import day_range, run_days
from tests.hardening.kit import END, START, state_fingerprints


@dataclass
class SmallDisk:
    """A folder whose filesystem holds `size` bytes; `grow` gives it more."""

    path: Path
    kind: str  # "tmpfs" or "injected ENOSPC"

    def grow(self, size: str) -> None:
        if self.kind == "tmpfs":
            subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)


def _can_mount() -> bool:
    """Root with `mount` (CHARTLEDGER_TEST_NO_TMPFS=1 forces the injected fallback)."""
    return (os.geteuid() == 0 and shutil.which("mount") is not None
            and not os.environ.get("CHARTLEDGER_TEST_NO_TMPFS"))


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Callable[[str], SmallDisk]]:
    """Makes the test's small disk of a given size (tmpfs when possible); unmounts it after."""
    def make(size: str) -> SmallDisk:
        path = tmp_path / "disk"
        path.mkdir()
        if _can_mount() and subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                capture_output=True).returncode == 0:
            mounted.append(path)
            return SmallDisk(path, "tmpfs")
        return SmallDisk(path, "injected ENOSPC")

    mounted: list[Path] = []
    yield make
    for path in mounted:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def _fail_writes_when_injected(disk: SmallDisk, monkeypatch, limit: int) -> None:
    """Without a real small disk: the landing writer's write call raises ENOSPC past `limit`
    bytes (a stand-in for the kernel, used only where no tmpfs can be mounted)."""
    if disk.kind != "injected ENOSPC":
        return
    from reconcile.channels import base

    original = base.HashingWriter.write

    def write(self, data: bytes) -> int:
        if self.size + len(data) > limit and not getattr(disk, "grown", False):
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return original(self, data)

    monkeypatch.setattr(base.HashingWriter, "write", write)
    monkeypatch.setattr(disk, "grow", lambda size: setattr(disk, "grown", True))


def test_landing_a_file_on_a_full_disk_leaves_nothing_and_works_once_there_is_space(
        small_disk, monkeypatch, capsys):
    disk = small_disk("1m")
    _fail_writes_when_injected(disk, monkeypatch, limit=1 << 20)
    with capsys.disabled():
        print(f"\n  disk full simulated with: {disk.kind}", end="")
    name = "pharmacy/ADC_NORTH_20261001.csv"
    line = "ADC-N-1,2026-10-01T10:00:00,NORTH,ED-ADC-1,V,N1,MRN1,RX1,00409733701,D,1,VIAL,RN1,"

    def land(rows: int) -> None:
        with landing_file(disk.path, name) as out:
            out.write_line("txn_id,txn_at,facility,cabinet_id,txn_type,visit_number,mrn,"
                           "order_number,ndc,drug_description,quantity,unit,user_id,witness_id")
            for _ in range(rows):
                out.write_line(line)

    with pytest.raises(OSError) as info:
        land(30_000)  # about 2.5 MB
    assert info.value.errno == errno.ENOSPC
    leftovers = [p for p in disk.path.rglob("*") if p.is_file()]
    assert leftovers == []  # no data file, no control file, no temporary file
    assert discover(disk.path, dt.date(2026, 10, 1)) == []

    disk.grow("8m")
    land(30_000)
    [landed] = discover(disk.path, dt.date(2026, 10, 1))
    assert landed.complete and landed.control.rows == 30_001 and landed.control.sha256 == landed.sha256


def test_warehouse_on_a_full_disk_fails_clearly_keeps_what_was_committed_and_recovers(
        small_disk, reference_started, engine_warehouse, capsys):
    disk = small_disk("3m")
    with capsys.disabled():
        print(f"\n  disk full simulated with: {disk.kind}", end="")
    settings = default_settings(reference_started.site.landing, disk.path / "warehouse.duckdb")

    if disk.kind != "tmpfs":  # DuckDB writes from C++: the ENOSPC is raised in the 5th batch
        faults.arm("staging", 5, "enospc")  # insert instead, inside its file's transaction
    try:
        with pytest.raises(WarehouseDiskFullError) as info:
            run_days(settings, day_range(START, END))
    finally:
        faults.disarm()
    message = str(info.value)
    assert "the disk is full" in message and "No space left on device" in message
    assert str(settings.warehouse_path) in message and "run the day again" in message

    # still a sound database, and every file it says it loaded is loaded whole
    warehouse = Warehouse(settings.warehouse_path)
    warehouse.verify(deep=True)
    with warehouse.reader() as con:
        loaded = con.execute("SELECT feed, file_name, rows_loaded FROM ops.file_manifest "
                             "WHERE outcome IN ('loaded', 'replaced')").fetchall()
        for feed, file_name, rows in loaded:
            table = FEEDS[feed].staging_table
            staged = con.execute(f"SELECT count(*) FROM staging.{table} WHERE file_name = $f",
                                 {"f": file_name}).fetchone()[0]
            assert staged == rows, file_name
    assert loaded, "the disk should have filled after some files were committed"

    disk.grow("64m")
    run_days(settings, day_range(START, END))
    assert state_fingerprints(settings.warehouse_path) == state_fingerprints(engine_warehouse)
