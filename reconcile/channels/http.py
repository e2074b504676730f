"""What the HTTP channels share: TLS and timing options, OAuth2 client credentials, and one request
loop that refreshes the token on 401, honours 429 Retry-After, and backs off on 5xx and timeouts.

Every request is bounded by the run's Deadline. Secrets and bearer tokens never reach a log line or
an error message; URLs are shown without user info and with signature-like query values redacted.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from reconcile.channels.base import ChannelError, Deadline, backoff_delays
from reconcile.config import ConfigError
from reconcile.secrets import SecretError, check_no_inline_secrets, read_secret

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
_SECRET_QUERY_WORDS = ("token", "secret", "password", "signature", "sig", "key", "credential",
                       "code", "x-amz-", "auth")

# option names understood by HttpSettings / ClientCredentials (channel modules add their own)
HTTP_OPTIONS = frozenset({
    "ca_bundle", "verify", "insecure_skip_tls_verify", "insecure_allow_http", "timeout_s",
    "max_total_s", "backoff_base_s", "backoff_cap_s", "max_retries", "retry_after_cap_s",
})
CREDENTIAL_OPTIONS = frozenset({
    "token_url", "client_id", "client_secret_env", "client_secret_file", "scope", "token_auth",
})


def redact_url(url: str) -> str:
    """The URL as it may appear in logs and errors: no user info, secret-like query values hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    query = [(k, "REDACTED" if any(w in k.lower() for w in _SECRET_QUERY_WORDS) else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=",:"), ""))


def with_query(url: str, params: Mapping[str, Any] | None) -> str:
    """url with params appended (for messages: the request as it was sent)."""
    if not params:
        return url
    sep = "&" if urlsplit(url).query else "?"
    return url + sep + urlencode({k: v for k, v in params.items() if v is not None}, safe=",:")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str, allow_http: bool) -> str:
    """Refuse anything but https, except plain http to this machine (tests, the demo server) or
    when the site set `insecure_allow_http`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what}: {redact_url(url)!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ConfigError(f"{what}: credentials in the URL are refused; use client_secret_env")
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        raise ConfigError(f"{what}: {redact_url(url)} is plain http to another machine; use https "
                          "(or set insecure_allow_http = true for a closed test network)")
    return url


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def option_number(options: Mapping[str, Any], key: str, default: float, where: str,
            kind: type = float, minimum: float = 0.0) -> Any:
    raw = options.get(key, default)
    if isinstance(raw, bool):
        raise ConfigError(f"{where}: {key} = {raw!r} is not a number")
    try:
        value = kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {key} = {raw!r} is not a number") from exc
    if value < minimum:
        raise ConfigError(f"{where}: {key} must be at least {minimum:g}")
    return value


def option_flag(options: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    raw = options.get(key, default)
    if not isinstance(raw, bool):
        raise ConfigError(f"{where}: {key} must be true or false")
    return raw


def resolve_path(value: Any, base_dir: Path | None) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() or base_dir is None else (base_dir / path)


@dataclass(frozen=True)
class HttpSettings:
    """TLS, timeouts, retry and time bounds of one HTTP channel."""

    verify: bool | str = True  # True, or the path of a CA bundle; False only when explicitly insecure
    allow_http: bool = False
    timeout_s: float = 30.0
    max_total_s: float = 1800.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_retries: int = 8
    retry_after_cap_s: float = 600.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str,
                     base_dir: Path | None = None) -> HttpSettings:
        verify: bool | str = True
        insecure = option_flag(options, "insecure_skip_tls_verify", False, where)
        if "verify" in options and options["verify"] is not True:
            if options["verify"] is not False:
                raise ConfigError(f"{where}: verify must be true or false (a CA bundle goes in "
                                  "ca_bundle)")
            if not insecure:
                raise ConfigError(f"{where}: verify = false is refused; TLS certificates are always "
                                  "checked (name a ca_bundle for a private CA, or set "
                                  "insecure_skip_tls_verify = true to switch checking off knowingly)")
        if insecure:
            verify = False
        elif options.get("ca_bundle"):
            bundle = resolve_path(options["ca_bundle"], base_dir)
            if not bundle.is_file():
                raise ConfigError(f"{where}: ca_bundle {bundle} does not exist")
            verify = str(bundle)
        return cls(
            verify=verify,
            allow_http=option_flag(options, "insecure_allow_http", False, where),
            timeout_s=option_number(options, "timeout_s", 30.0, where, minimum=0.001),
            max_total_s=option_number(options, "max_total_s", 1800.0, where, minimum=0.001),
            backoff_base_s=option_number(options, "backoff_base_s", 0.5, where),
            backoff_cap_s=option_number(options, "backoff_cap_s", 30.0, where),
            max_retries=option_number(options, "max_retries", 8, where, kind=int),
            retry_after_cap_s=option_number(options, "retry_after_cap_s", 600.0, where),
        )


@dataclass(frozen=True)
class ClientCredentials:
    """OAuth2 client credentials (RFC 6749 §4.4); the secret comes from the environment or a file."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    token_auth: str = "basic"  # client_secret_basic (HTTP Basic) or "post" (client_secret_post)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], env: Mapping[str, str], where: str,
                     default_token_url: str, allow_http: bool,
                     base_dir: Path | None = None) -> ClientCredentials:
        check_no_inline_secrets(options, where)
        client_id = options.get("client_id")
        if not client_id or not isinstance(client_id, str):
            raise ConfigError(f"{where}: needs client_id")
        token_auth = str(options.get("token_auth", "basic"))
        if token_auth not in ("basic", "post"):
            raise ConfigError(f"{where}: token_auth must be 'basic' or 'post'")
        scope = options.get("scope")
        return cls(
            token_url=check_url(str(options.get("token_url") or default_token_url).rstrip("/"),
                                f"{where} token_url", allow_http),
            client_id=client_id,
            client_secret=_client_secret(options, env, where, base_dir),
            scope=str(scope) if scope else None,
            token_auth=token_auth,
        )


def _client_secret(options: Mapping[str, Any], env: Mapping[str, str], where: str,
                   base_dir: Path | None) -> str:
    env_name = options.get("client_secret_env")
    file = options.get("client_secret_file")
    if not env_name and not file:
        raise ConfigError(f"{where}: name where the client secret is: client_secret_env (an "
                          "environment variable) or client_secret_file (a file only we can read)")
    if env_name and env.get(str(env_name)):
        return str(env[str(env_name)])
    if file:
        return read_secret(None, resolve_path(file, base_dir), what=f"{where} client secret")
    raise SecretError(f"{where} client secret: environment variable {env_name} is not set")


class BearerAuth(AuthBase):
    """Sets `Authorization: Bearer` (an explicit auth object also keeps ~/.netrc out of the way)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


def describe_error_body(response: requests.Response) -> str:
    """A short, PHI-free description of an error body: OAuth `error` code or OperationOutcome
    severities and codes (diagnostics text is left out: it may name a patient)."""
    try:
        body = json.loads(response.content[:65536] or b"null")
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = [f"{i.get('severity')}/{i.get('code')}" for i in body.get("issue") or []
                  if isinstance(i, dict)]
        return f" (OperationOutcome {', '.join(issues[:5])})" if issues else " (OperationOutcome)"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f" (error={body['error'][:60]})"
    return ""


class HttpClient:
    """One channel run's HTTP session: bearer token, retries, Deadline; counts retries."""

    def __init__(self, settings: HttpSettings, credentials: ClientCredentials | None,
                 deadline: Deadline, channel: str) -> None:
        self.settings = settings
        self.credentials = credentials
        self.deadline = deadline
        self.channel = channel
        self.retries = 0
        self.token_requests = 0
        self._token: str | None = None
        self._token_expires = 0.0
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "chartledger"
        if settings.verify is False:
            log.warning("%s: TLS certificate checking is OFF (insecure_skip_tls_verify = true); "
                        "anyone on the network path can read and alter this channel's data", channel)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- token -------------------------------------------------------------------------------
    def token(self) -> str:
        """A valid access token, fetched again shortly before it expires."""
        if self._token is None or time.monotonic() >= self._token_expires:
            self._fetch_token()
        assert self._token is not None
        return self._token

    def invalidate_token(self) -> None:
        self._token = None

    def _fetch_token(self) -> None:
        creds = self.credentials
        if creds is None:
            raise ChannelError(f"{self.channel}: no client credentials configured")
        data = {"grant_type": "client_credentials"}
        if creds.scope:
            data["scope"] = creds.scope
        auth: tuple[str, str] | None = (creds.client_id, creds.client_secret)
        if creds.token_auth == "post":
            data.update(client_id=creds.client_id, client_secret=creds.client_secret)
            auth = None
        self.token_requests += 1
        response = self.request("POST", creds.token_url, what=f"{self.channel} token request",
                                data=data, basic_auth=auth, bearer=False,
                                headers={"Accept": "application/json"})
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ChannelError(f"{self.channel}: the token endpoint {redact_url(creds.token_url)} "
                               "answered without an access_token")
        expires_in = body.get("expires_in", 300)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in < 0:
            expires_in = 300
        margin = min(30.0, float(expires_in) * 0.1)  # refresh a little before it runs out
        self._token = token
        self._token_expires = time.monotonic() + float(expires_in) - margin

    # -- requests ------------------------------------------------------------------------------
    def request(self, method: str, url: str, *, what: str, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, data: Mapping[str, str] | None = None,
                expect: tuple[int, ...] = (200,), stream: bool = False, bearer: bool = True,
                basic_auth: tuple[str, str] | None = None) -> requests.Response:
        """Send a request until it answers one of `expect`.

        401 (with a bearer token) fetches a new token once; 429 waits Retry-After (or backs off);
        5xx, timeouts and connection errors back off exponentially with jitter; all bounded by
        max_retries and the Deadline. Any other status raises ChannelError.
        """
        delays = backoff_delays(self.settings.backoff_base_s, self.settings.backoff_cap_s)
        shown = redact_url(with_query(url, params))
        failures = 0
        refreshed = False
        while True:
            self.deadline.check(what)
            auth: Any = BearerAuth(self.token()) if bearer else basic_auth
            timeout = max(0.001, min(self.settings.timeout_s, self.deadline.remaining))
            wait: float | None = None
            try:
                response = self.session.request(
                    method, url, params=params, headers=headers, data=data, auth=auth,
                    timeout=timeout, stream=stream, verify=self.settings.verify)
            except (requests.Timeout, requests.ConnectionError) as exc:
                problem = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
            else:
                status = response.status_code
                if status in expect:
                    return response
                detail = describe_error_body(response)
                response.close()
                if status == 401 and bearer and not refreshed:
                    refreshed = True  # the token expired or was revoked: one new token per request
                    self.invalidate_token()
                    self.retries += 1
                    log.info("%s: %s %s answered 401; fetching a new token", what, method, shown)
                    continue
                if status != 429 and status not in RETRYABLE_STATUS:
                    raise ChannelError(f"{what}: {method} {shown} answered HTTP {status} "
                                       f"{response.reason or ''}{detail}".rstrip())
                problem = f"answered HTTP {status}{detail}"
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > self.settings.retry_after_cap_s:
                    raise ChannelError(f"{what}: {method} {shown} {problem} with Retry-After "
                                       f"{wait:g} s, more than retry_after_cap_s")
            failures += 1
            if failures > self.settings.max_retries:
                raise ChannelError(f"{what}: {method} {shown} {problem}; gave up after "
                                   f"{self.settings.max_retries} retries")
            delay = wait if wait is not None else next(delays)
            self.retries += 1
            log.warning("%s: %s %s %s; retry %d in %.2f s", what, method, shown, problem,
                        failures, delay)
            self.deadline.sleep(delay, f"{what}: {method} {shown} {problem}")

    def download(self, url: str, *, what: str, sink: Callable[[Iterator[bytes]], None],
                 headers: Mapping[str, str] | None = None, bearer: bool = True,
                 chunk_size: int = 1 << 16) -> None:
        """GET url and stream its body into `sink`; a body cut off mid-way (connection reset,
        short read) is fetched again from the start, so `sink` must start over on each call."""
        delays = backoff_delays(self.settings.backoff_base_s, self.settings.backoff_cap_s)
        failures = 0
        while True:
            response = self.request("GET", url, what=what, headers=headers, stream=True,
                                    bearer=bearer)
            try:
                sink(response.iter_content(chunk_size))
                return
            except (requests.RequestException, ConnectionError) as exc:
                failures += 1
                if failures > self.settings.max_retries:
                    raise ChannelError(f"{what}: GET {redact_url(url)} broke off "
                                       f"({type(exc).__name__}); gave up after "
                                       f"{self.settings.max_retries} retries") from None
                self.retries += 1
                delay = next(delays)
                log.warning("%s: GET %s broke off (%s); retry %d in %.2f s", what, redact_url(url),
                            type(exc).__name__, failures, delay)
                self.deadline.sleep(delay, f"{what}: GET {redact_url(url)} broke off")
            finally:
                response.close()


def known_options(options: Mapping[str, Any], allowed: frozenset[str] | set[str], where: str) -> None:
    """Refuse option names a channel does not know (a typo must not silently change behaviour)."""
    unknown = sorted(set(options) - set(allowed) - {"type"})
    if unknown:
        raise ConfigError(f"{where}: unknown option(s): {', '.join(unknown)}")
