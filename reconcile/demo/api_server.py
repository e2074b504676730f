"""The demo health system's vendor APIs over HTTP, served from a landing directory the generator wrote.

- Cloud ERP (F9) and workforce SaaS (F14): `POST /oauth/token` (client credentials), `GET
  /api/v1/gl/journal-lines` and `GET /api/v1/timecards` with `updated_since`, the date window
  (`accounting_date_from/to`, `work_date_from/to`), `limit` and an opaque `cursor`.
- EHR FHIR Bulk Data (F3, F4) under `/fhir`: `POST /fhir/token`, `GET /fhir/$export`, a status URL
  that answers 202 (`X-Progress`, `Retry-After`) for `export_polls` polls and then the manifest,
  bearer-protected NDJSON downloads, `DELETE` on the status URL to cancel.

Which items a pull sees. The demo's file of extract date D is what a nightly pull on D fetched, so
the server replays those files: an item exists in the simulated source once its file's day is
reached (`as_of`, the night being simulated; None = every day written), and it counts as changed
at a per-file time. For the REST feeds that time is the latest `updated_at` in the file (the
nightly batch's time), so the client's watermark (the largest `updated_at` it landed) resumes
exactly after that file — even though some demo items are backdated (the revenue interface's
batch of P carries `updated_at` P 23:50 but reaches the ERP only with the file of P + 1).
For FHIR each file's resources count as changed at D 23:59:59Z and an export run `as_of` D has
that instant as its `transactionTime`. Pulling day after day with the clock set to each day
therefore lands files byte-identical to the demo's own.

`as_of` is set on the object or over HTTP (`POST /demo/clock {"as_of": "YYYY-MM-DD" | null}`).
Faults for tests are set on `faults` (ApiFaults). Runs uvicorn in a background thread on a free
loopback port (optionally with TLS); `start()`/`stop()` or a `with` block.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconcile.feeds import FEEDS, classify

log = logging.getLogger(__name__)

# REST path -> (feed, the item's date field, the query's date parameter prefix)
REST_ROUTES = {
    "/api/v1/gl/journal-lines": ("gl_journal_lines", "accounting_date", "accounting_date"),
    "/api/v1/timecards": ("timecards", "work_date", "work_date"),
}
FHIR_FILE = re.compile(r"^(?P<type>[A-Z][A-Za-z]{1,63})_(?P<date>\d{8})\.ndjson$")
DEFAULT_LIMIT = 100
KEEP_JOBS = 20  # exports kept (with their files) before the oldest is forgotten


@dataclass
class ApiFaults:
    """Faults the server injects (tests of the HTTP channels). Call numbers count every request
    except token requests, from 1, across all endpoints (see DemoApiServer.calls)."""

    expire_tokens_after_calls: int | None = None  # each token is refused (401) after N uses
    rate_limit_calls: set[int] = field(default_factory=set)  # answer 429 with Retry-After
    retry_after_s: int = 1
    error_calls: set[int] = field(default_factory=set)  # answer 500
    stall_calls: dict[int, float] = field(default_factory=dict)  # wait this long, then answer
    endless_pages: bool = False  # next_cursor is never null (empty pages after the data)
    malformed_page: int | None = None  # page N of a chain answers 200 with broken JSON
    export_errors: list[dict[str, Any]] = field(default_factory=list)  # OperationOutcomes in error[]
    export_never_completes: bool = False  # the status URL answers 202 for ever
    garbled_export_type: str | None = None  # the last file of this type ends in a cut-off line


@dataclass(frozen=True)
class CallRecord:
    """One request the server answered: `number` is the fault call number (None for tokens)."""

    number: int | None
    method: str
    path: str
    query: str
    status: int
    at: float  # time.monotonic() when the request arrived


@dataclass(frozen=True)
class _Item:
    raw: str  # the demo file's line, without its newline
    day: dt.date  # extract date of the demo file it came from
    changed: dt.datetime  # when it counts as changed in the simulated source
    date: str  # accounting_date / work_date


@dataclass
class _Job:
    request_url: str
    transaction_time: str
    files: dict[str, bytes]  # name -> NDJSON body
    outputs: list[tuple[str, str, int]]  # (type, name, count)
    errors: list[str]  # names of OperationOutcome files
    polls_left: int
    never_completes: bool
    cancelled: bool = False


@dataclass
class _Token:
    expires_at: float
    uses: int = 0


class DemoApiServer:
    """The ERP, workforce and FHIR Bulk APIs of the demo system, on 127.0.0.1:<free port>."""

    def __init__(self, landing_root: Path, *, client_id: str = "chartledger-demo",
                 client_secret: str = "demo-secret", host: str = "127.0.0.1", port: int = 0,
                 token_ttl_s: int = 3600, max_page_limit: int = 1000, export_polls: int = 1,
                 export_retry_after_s: int = 1, export_file_lines: int = 1000,
                 as_of: dt.date | None = None, faults: ApiFaults | None = None,
                 ssl_certfile: Path | None = None, ssl_keyfile: Path | None = None) -> None:
        self.landing_root = Path(landing_root)
        self.client_id = client_id
        self._secret = client_secret
        self.host = host
        self.port = port
        self.token_ttl_s = token_ttl_s
        self.max_page_limit = max_page_limit
        self.export_polls = export_polls
        self.export_retry_after_s = export_retry_after_s
        self.export_file_lines = max(1, export_file_lines)
        self.as_of = as_of
        self.faults = faults or ApiFaults()
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile = ssl_keyfile
        self.calls: list[CallRecord] = []
        self.token_requests = 0
        self.cancelled_jobs: list[str] = []
        self._lock = threading.Lock()
        self._call_number = 0
        self._tokens: dict[str, _Token] = {}
        self._jobs: dict[str, _Job] = {}
        self._rest: dict[str, list[_Item]] = {}
        self._fhir: dict[str, dict[dt.date, list[str]]] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.reload()
        self.app = Starlette(routes=[
            Route("/oauth/token", self._token_endpoint, methods=["POST"]),
            Route("/fhir/token", self._token_endpoint, methods=["POST"]),
            *[Route(path, self._rest_page, methods=["GET"]) for path in REST_ROUTES],
            Route("/fhir/$export", self._kick_off, methods=["GET"]),
            Route("/fhir/jobs/{job}", self._status, methods=["GET", "DELETE"]),
            Route("/fhir/files/{job}/{name}", self._file, methods=["GET"]),
            Route("/demo/clock", self._clock, methods=["GET", "POST"]),
        ])

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Root URL: the ERP and workforce base URL (the FHIR base is `fhir_base_url`)."""
        scheme = "https" if self.ssl_certfile else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def fhir_base_url(self) -> str:
        return f"{self.url}/fhir"

    def start(self, timeout_s: float = 10.0) -> DemoApiServer:
        """Serve in a background thread; returns once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=2,
            ssl_certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
            ssl_keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"demo-api-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"demo API server did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        log.info("demo API server on %s (ERP, workforce) and %s (FHIR)", self.url, self.fhir_base_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> DemoApiServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- data ----------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the landing directory's GL, timecard and FHIR files again."""
        rest: dict[str, list[_Item]] = {}
        for feed, date_field, _prefix in REST_ROUTES.values():
            rest[feed] = self._load_rest(feed, date_field)
        fhir: dict[str, dict[dt.date, list[str]]] = {}
        folder = self.landing_root / "ehr" / "fhir"
        for path in sorted(folder.glob("*.ndjson")) if folder.is_dir() else []:
            m = FHIR_FILE.match(path.name)
            if not m or not path.with_name(path.name + ".ctl").is_file():
                continue
            day = dt.datetime.strptime(m.group("date"), "%Y%m%d").date()
            fhir.setdefault(m.group("type"), {})[day] = _lines(path)
        self._rest, self._fhir = rest, fhir

    def _load_rest(self, feed: str, date_field: str) -> list[_Item]:
        folder = self.landing_root / Path(FEEDS[feed].pattern_text).parent
        files = []
        for path in folder.glob("*.ndjson") if folder.is_dir() else []:
            named = classify(path.relative_to(self.landing_root).as_posix())
            if named and named.feed.name == feed and path.with_name(path.name + ".ctl").is_file():
                files.append((named.extract_date, path))
        items: list[_Item] = []
        previous: dt.datetime | None = None
        for day, path in sorted(files):
            lines = _lines(path)
            parsed = [json.loads(line) for line in lines]
            stamps = [_naive(p.get("updated_at")) for p in parsed]
            changed = max((s for s in stamps if s is not None), default=None)
            if changed is None:
                continue
            if previous is not None and changed <= previous:
                log.warning("demo API: %s has no updated_at later than the previous file's; a pull "
                            "by updated_since cannot tell the two days apart", path.name)
                changed = previous + dt.timedelta(microseconds=1)
            previous = changed
            items += [_Item(line, day, changed, str(p.get(date_field, "")))
                      for line, p in zip(lines, parsed, strict=True)]
        return items

    def _visible(self, day: dt.date) -> bool:
        return self.as_of is None or day <= self.as_of

    # -- plumbing --------------------------------------------------------------------------------
    def _arrive(self, request: Request, counted: bool = True) -> int | None:
        with self._lock:
            if not counted:
                return None
            self._call_number += 1
            return self._call_number

    def _record(self, number: int | None, request: Request, status: int, at: float) -> None:
        with self._lock:
            self.calls.append(CallRecord(number, request.method, request.url.path,
                                         request.url.query, status, at))

    async def _guard(self, request: Request, number: int) -> Response | None:
        """Bearer check and injected faults; a Response to send instead, or None to go on."""
        stall = self.faults.stall_calls.get(number)
        if stall:
            await asyncio.sleep(stall)
        header = request.headers.get("authorization", "")
        token = self._tokens.get(header[7:]) if header.lower().startswith("bearer ") else None
        if token is None or time.monotonic() > token.expires_at:
            return _unauthorized("missing, unknown or expired bearer token")
        limit = self.faults.expire_tokens_after_calls
        if limit is not None and token.uses >= limit:
            return _unauthorized("the access token has expired")
        token.uses += 1
        if number in self.faults.rate_limit_calls:
            return JSONResponse({"error": "rate_limited"}, status_code=429,
                                headers={"Retry-After": str(self.faults.retry_after_s)})
        if number in self.faults.error_calls:
            return JSONResponse({"error": "internal"}, status_code=500)
        return None

    async def _handle(self, request: Request, handler: Any, counted: bool = True) -> Response:
        at = time.monotonic()
        number = self._arrive(request, counted)
        response = None
        if number is not None:
            response = await self._guard(request, number)
        if response is None:
            response = await handler(request)
        self._record(number, request, response.status_code, at)
        return response

    # -- OAuth2 --------------------------------------------------------------------------------
    async def _token_endpoint(self, request: Request) -> Response:
        return await self._handle(request, self._issue_token, counted=False)

    async def _issue_token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not (client_id and secret and hmac.compare_digest(client_id, self.client_id)
                and hmac.compare_digest(secret, self._secret)):
            return JSONResponse({"error": "invalid_client"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="demo"'})
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.token_requests += 1
            self._tokens[token] = _Token(time.monotonic() + self.token_ttl_s)
        return JSONResponse({"access_token": token, "token_type": "Bearer",
                             "expires_in": self.token_ttl_s},
                            headers={"Cache-Control": "no-store"})

    # -- ERP and workforce -----------------------------------------------------------------------
    async def _rest_page(self, request: Request) -> Response:
        return await self._handle(request, self._page)

    async def _page(self, request: Request) -> Response:
        feed, _date_field, prefix = REST_ROUTES[request.url.path]
        q = request.query_params
        try:
            limit = min(self.max_page_limit, max(1, int(q.get("limit", DEFAULT_LIMIT))))
            since = _naive(q["updated_since"], strict=True) if q.get("updated_since") else None
            low = dt.date.fromisoformat(q[f"{prefix}_from"]).isoformat() \
                if q.get(f"{prefix}_from") else None
            high = dt.date.fromisoformat(q[f"{prefix}_to"]).isoformat() if q.get(f"{prefix}_to") else None
        except ValueError as exc:
            return JSONResponse({"error": "invalid_request", "detail": str(exc)}, status_code=400)
        key = hashlib.sha256(json.dumps([feed, q.get("updated_since"), low, high]).encode()).hexdigest()[:16]
        offset = 0
        if q.get("cursor"):
            offset = _read_cursor(q["cursor"], key)
            if offset is None:
                return JSONResponse({"error": "invalid_cursor"}, status_code=400)
        items = [i for i in self._rest.get(feed, ()) if self._visible(i.day)
                 and (since is None or i.changed > since)
                 and (low is None or i.date >= low) and (high is None or i.date <= high)]
        chunk = items[offset:offset + limit]
        more = offset + limit < len(items) or self.faults.endless_pages
        next_cursor = _cursor(offset + limit, key) if more else None
        page = offset // limit + 1
        body = '{"items":[' + ",".join(i.raw for i in chunk) + '],"next_cursor":' + \
            json.dumps(next_cursor) + "}"
        if self.faults.malformed_page == page:
            body = body[:max(12, len(body) // 2)]  # cut off mid-way: not JSON any more
        return Response(body, media_type="application/json")

    # -- FHIR Bulk Data --------------------------------------------------------------------------
    async def _kick_off(self, request: Request) -> Response:
        return await self._handle(request, self._start_export)

    async def _start_export(self, request: Request) -> Response:
        if "application/fhir+json" not in request.headers.get("accept", ""):
            return _outcome(400, "invalid", "Accept must be application/fhir+json")
        if "respond-async" not in request.headers.get("prefer", ""):
            return _outcome(400, "invalid", "Prefer: respond-async is required")
        q = request.query_params
        kinds = [t.strip() for t in q.get("_type", "").split(",") if t.strip()] or sorted(self._fhir)
        if any(not re.fullmatch(r"[A-Z][A-Za-z]{1,63}", t) for t in kinds):
            return _outcome(400, "invalid", "_type lists something that is not a resource type")
        since = None
        if q.get("_since"):
            try:
                since = _aware(q["_since"])
            except ValueError:
                return _outcome(400, "invalid", "_since is not a FHIR instant")
        days = [d for by_day in self._fhir.values() for d in by_day if self._visible(d)]
        now = self.as_of or (max(days) if days else dt.date.today())
        job_id = secrets.token_hex(8)
        base = str(request.base_url).rstrip("/")
        files: dict[str, bytes] = {}
        outputs: list[tuple[str, str, int]] = []
        for kind in kinds:
            lines = [line for day, day_lines in sorted(self._fhir.get(kind, {}).items())
                     if self._visible(day) and (since is None or _export_instant(day) > since)
                     for line in day_lines]
            step = self.export_file_lines
            for part, start in enumerate(range(0, len(lines), step), 1):
                name = f"{kind}_{part}.ndjson"
                chunk = lines[start:start + step]
                files[name] = "".join(line + "\n" for line in chunk).encode("utf-8")
                outputs.append((kind, name, len(chunk)))
        garbled = [name for kind, name, _count in outputs if kind == self.faults.garbled_export_type]
        if garbled:
            files[garbled[-1]] += b'{"resourceType":"' + garbled[-1].split("_")[0].encode() + b'","id":\n'
        errors = []
        if self.faults.export_errors:
            files["errors_1.ndjson"] = "".join(
                json.dumps(o, separators=(",", ":")) + "\n" for o in self.faults.export_errors
            ).encode("utf-8")
            errors.append("errors_1.ndjson")
        while len(self._jobs) >= KEEP_JOBS:
            self._jobs.pop(next(iter(self._jobs)))
        self._jobs[job_id] = _Job(str(request.url), _instant_text(_export_instant(now)), files,
                                  outputs, errors, self.export_polls,
                                  self.faults.export_never_completes)
        return Response(status_code=202, headers={"Content-Location": f"{base}/fhir/jobs/{job_id}"})

    async def _status(self, request: Request) -> Response:
        return await self._handle(request, self._job_status)

    async def _job_status(self, request: Request) -> Response:
        job_id = request.path_params["job"]
        job = self._jobs.get(job_id)
        if job is None or job.cancelled:
            return _outcome(404, "not-found", "no such export")
        if request.method == "DELETE":
            job.cancelled = True
            with self._lock:
                self.cancelled_jobs.append(job_id)
            return _outcome(202, "informational", "export cancelled", severity="information")
        if job.never_completes or job.polls_left > 0:
            job.polls_left -= 1
            done = self.export_polls - max(0, job.polls_left)
            return Response(status_code=202, headers={
                "X-Progress": f"in progress ({done} of {max(self.export_polls, done + 1)})",
                "Retry-After": str(self.export_retry_after_s)})
        base = str(request.base_url).rstrip("/")
        return JSONResponse({
            "transactionTime": job.transaction_time,
            "request": job.request_url,
            "requiresAccessToken": True,
            "output": [{"type": kind, "url": f"{base}/fhir/files/{job_id}/{name}", "count": count}
                       for kind, name, count in job.outputs],
            "error": [{"type": "OperationOutcome", "url": f"{base}/fhir/files/{job_id}/{name}"}
                      for name in job.errors],
        })

    async def _file(self, request: Request) -> Response:
        return await self._handle(request, self._download)

    async def _download(self, request: Request) -> Response:
        job = self._jobs.get(request.path_params["job"])
        name = request.path_params["name"]
        if job is None or job.cancelled or name not in job.files:
            return _outcome(404, "not-found", "no such file")
        return Response(job.files[name], media_type="application/fhir+ndjson")

    # -- the simulated clock ---------------------------------------------------------------------
    async def _clock(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                value = (await request.json()).get("as_of")
                self.as_of = dt.date.fromisoformat(value) if value else None
            except (ValueError, AttributeError, TypeError):
                return JSONResponse({"error": "as_of must be YYYY-MM-DD or null"}, status_code=400)
        return JSONResponse({"as_of": self.as_of.isoformat() if self.as_of else None})


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _naive(text: Any, strict: bool = False) -> dt.datetime | None:
    """A timestamp as naive local time (aware ones converted to UTC); None (or ValueError) if bad."""
    try:
        value = dt.datetime.fromisoformat(str(text))
    except ValueError:
        if strict:
            raise
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _aware(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _export_instant(day: dt.date) -> dt.datetime:
    """When the resources of the demo's FHIR files of `day` count as changed."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)


def _instant_text(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor(offset: int, key: str) -> str:
    raw = json.dumps({"o": offset, "q": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str, key: str) -> int | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(data, dict) or data.get("q") != key or not isinstance(data.get("o"), int):
        return None
    return data["o"] if data["o"] >= 0 else None


def _unauthorized(text: str) -> Response:
    return JSONResponse({"error": "invalid_token", "error_description": text}, status_code=401,
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _outcome(status: int, code: str, text: str, severity: str = "error") -> Response:
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": text}]}
    return JSONResponse(body, status_code=status, media_type="application/fhir+json")
