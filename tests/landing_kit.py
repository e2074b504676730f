"""Write small hand-made feed files (with control files) into a landing directory for tests."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path


def write_feed_file(root: Path, relative: str, content: str | bytes, rows: int | None = None,
                    control: bool = True) -> Path:
    """Write a data file and (unless control=False) its .ctl with the true sha256 and row count."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(data)
    if control:
        write_control(path, rows if rows is not None else count_records(path))
    return path


def write_control(path: Path, rows: int, sha256: str | None = None) -> None:
    digest = sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    ctl = {"file": path.name, "rows": rows, "sha256": digest}
    path.with_name(path.name + ".ctl").write_text(json.dumps(ctl) + "\n", encoding="utf-8")


def count_records(path: Path) -> int:
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    if path.suffix == ".csv":
        return max(sum(1 for _ in csv.reader(io.StringIO(text))) - 1, 0)
    if path.suffix == ".ndjson":
        return sum(1 for line in text.splitlines() if line.strip())
    if path.suffix == ".hl7":
        return sum(1 for seg in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                   if seg.startswith("MSH"))
    raise ValueError(f"no record rule for {path}")


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def hl7_message(*segments: str) -> str:
    return "\r".join(segments) + "\n"
