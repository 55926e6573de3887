"""Generation through any OpenAI-compatible server (vLLM serve, SGLang, llama.cpp server,
``transformers serve``): bounded concurrency, retries with backoff, a total deadline and a size cap per
request, no redirects, the API key never shown, and Ctrl-C that cancels what is in flight."""

from __future__ import annotations

import errno
import http.client
import json
import os
import selectors
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from stagekit.generate.base import GenerationError, Prompt, Sampling, progress

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "OpenAIGenerator", "validate_base_url"]

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}

#: The largest response body read from the server (a completion of a few thousand tokens is ~10-100 kB).
DEFAULT_MAX_RESPONSE_BYTES = 32 * 2**20

_TICK = 0.05  # how often the watchdog checks deadlines and cancellation (seconds)


def validate_base_url(base_url: str) -> str:
    """The API root (ending in ``/v1``) of an OpenAI-compatible server's URL, or :class:`ValueError` naming
    what is wrong: the scheme must be ``http`` or ``https`` and there must be a host; credentials,
    queries and fragments are refused (pass the key as ``api_key``).

    >>> validate_base_url("http://127.0.0.1:8000")
    'http://127.0.0.1:8000/v1'
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError("the server URL is empty (expected e.g. http://127.0.0.1:8000/v1)")
    raw = base_url.strip()
    try:
        u = urllib.parse.urlsplit(raw)
        port = u.port
    except ValueError as e:
        raise ValueError(f"the server URL {raw!r} is malformed: {e}") from None
    if u.username is not None or u.password is not None:
        # Never echo what may be a credential.
        raise ValueError("the server URL must not hold credentials (user:password@): pass the key as api_key")
    if u.scheme.lower() not in ("http", "https") or "//" not in raw:
        got = f"scheme {u.scheme!r}" if u.scheme and "//" in raw else "no scheme"
        raise ValueError(f"the server URL {raw!r} has {got}: it must start with http:// or https:// "
                         f"(e.g. http://127.0.0.1:8000/v1)")
    if not u.hostname:
        raise ValueError(f"the server URL {raw!r} has no host (e.g. http://127.0.0.1:8000/v1)")
    if u.query or u.fragment:
        raise ValueError(f"the server URL {raw!r} must not have a query or fragment")
    netloc = u.hostname if ":" not in u.hostname else f"[{u.hostname}]"
    if port is not None:
        netloc += f":{port}"
    path = u.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urllib.parse.urlunsplit((u.scheme.lower(), netloc, path, "", ""))


# ----------------------------------------------------------------------------------- requests in flight


class _Flight:
    """One request in flight: the socket the watchdog may shut down, and its deadline."""

    __slots__ = ("deadline", "expired", "sock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.sock: socket.socket | None = None


class _Cancelled(Exception):
    """The generation was cancelled (Ctrl-C in the caller, or another request failed)."""


class _Watch:
    """Enforces each request's total deadline and cancels every request at once: a daemon thread that shuts
    down the socket of a request past its deadline (or of every request, once cancelled). A blocked read
    then returns at once, so neither a server trickling bytes nor Ctrl-C has to wait for a socket timeout."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._flights: set[_Flight] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stagekit-openai-watch", daemon=True)
        self._thread.start()

    def add(self, flight: _Flight) -> None:
        with self._lock:
            self._flights.add(flight)

    def discard(self, flight: _Flight) -> None:
        with self._lock:
            self._flights.discard(flight)

    def cancel(self) -> None:
        self.cancelled.set()
        self._sweep()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(_TICK):
            self._sweep()

    def _sweep(self) -> None:
        now = time.monotonic()
        cancelled = self.cancelled.is_set()
        with self._lock:
            due = [f for f in self._flights if cancelled or now >= f.deadline]
            for f in due:
                if not cancelled:
                    f.expired = True
        for f in due:
            sock = f.sock
            if sock is not None:
                try:  # the plain socket's shutdown, also for an SSL socket: it only wakes the reader
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass


def _connect(host: str, port: int, flight: _Flight, watch: _Watch) -> socket.socket:
    """A connected TCP socket, connecting without blocking so that the deadline and cancellation apply
    (name resolution itself cannot be interrupted; an IP address needs none)."""
    last: OSError | None = None
    for family, kind, proto, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        s = socket.socket(family, kind, proto)
        flight.sock = s
        try:
            s.setblocking(False)
            rc = s.connect_ex(addr)
            if rc not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
                raise OSError(rc, os.strerror(rc))
            with selectors.DefaultSelector() as sel:
                sel.register(s, selectors.EVENT_WRITE)
                while not sel.select(_TICK):
                    if watch.cancelled.is_set():
                        raise _Cancelled
                    if time.monotonic() >= flight.deadline:
                        flight.expired = True
                        raise TimeoutError("timed out while connecting")
            rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if rc:
                raise OSError(rc, os.strerror(rc))
            s.setblocking(True)
            s.settimeout(max(flight.deadline - time.monotonic(), 0.01) + 1.0)  # a backstop; the watchdog rules
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except BaseException as e:
            s.close()
            if isinstance(e, (_Cancelled, TimeoutError)) or not isinstance(e, OSError):
                raise
            last = e
    raise last or OSError(f"no address for {host}")


class _HTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, flight: _Flight, watch: _Watch) -> None:
        super().__init__(host, port)
        self._flight, self._watch = flight, watch

    def connect(self) -> None:
        self.sock = _connect(self.host, self.port, self._flight, self._watch)


class _HTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int | None, flight: _Flight, watch: _Watch) -> None:
        self._ssl = ssl.create_default_context()
        super().__init__(host, port, context=self._ssl)
        self._flight, self._watch = flight, watch

    def connect(self) -> None:
        raw = _connect(self.host, self.port, self._flight, self._watch)
        self.sock = self._ssl.wrap_socket(raw, server_hostname=self.host)
        self._flight.sock = self.sock


class _Failure(Exception):
    """One failed attempt: the message, and whether another attempt may succeed."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


# ---------------------------------------------------------------------------------------------- backend


class OpenAIGenerator:
    """Sample from an OpenAI-compatible server over HTTP (standard library only).

    ``base_url`` is the server root (``http://127.0.0.1:8000`` or ``.../v1``); it must be ``http://`` or
    ``https://`` with a host, or the constructor raises :class:`ValueError`. ``chat=True`` uses
    ``/v1/chat/completions`` (text prompts become one user turn), ``chat=False`` ``/v1/completions``.
    Each of the ``n`` samples is its own request with seed ``seed + sample`` (many servers ignore ``n``),
    at most ``concurrency`` in flight.

    - ``timeout`` is the **total** time one request may take (connect, send, wait, read the whole body),
      however slowly the server trickles bytes. A request that times out, cannot connect, loses its
      connection or gets 408/429/5xx is retried ``max_retries`` times with exponential backoff; then
      :class:`GenerationError` names the URL and says which it was ("timed out", "cannot connect", ...).
    - A response body over ``max_response_bytes`` is an error (not read further); so is a malformed one
      (not JSON, a missing field, ``content`` null or not a string): the message names the field.
    - Redirects are never followed, to the same host or another: a 3xx answer is an error naming both
      URLs (following one would resend the request and the API key). Use the final URL as ``base_url``.
    - ``api_key`` is sent as ``Authorization: Bearer`` to the configured host only, and is replaced by
      ``***`` in every error message (a server that echoes it back does not get it printed).
    - Ctrl-C (or any error) in :meth:`generate` cancels every request in flight at once: their sockets are
      shut down and nothing waits for them.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        chat: bool = True,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if concurrency < 1 or max_retries < 0 or not timeout > 0 or max_response_bytes < 1:
            raise ValueError("concurrency >= 1, max_retries >= 0, timeout > 0 and max_response_bytes >= 1 are required")
        self.base_url = validate_base_url(base_url)
        self.model, self.chat = model, chat
        self._api_key = api_key or None
        self.concurrency, self.timeout, self.max_retries, self.backoff = concurrency, timeout, max_retries, backoff
        self.max_response_bytes = max_response_bytes

    @property
    def api_key(self) -> str | None:
        return self._api_key

    def __repr__(self) -> str:
        key = ", api_key=***" if self._api_key else ""
        return f"OpenAIGenerator({self.base_url!r}, {self.model!r}{key}, chat={self.chat})"

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/{'chat/completions' if self.chat else 'completions'}"

    def _redact(self, text: str) -> str:
        key = self._api_key
        if not key:
            return text
        for form in {key, json.dumps(key)[1:-1], urllib.parse.quote(key, safe=""), urllib.parse.quote_plus(key)}:
            if form:
                text = text.replace(form, "***")
        return text

    def _body(self, prompt: Prompt, sampling: Sampling, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": seed,
            **sampling.extra,
        }
        if self.chat:
            body["messages"] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        else:
            body["prompt"] = prompt if isinstance(prompt, str) else "\n\n".join(m["content"] for m in prompt)
        return body

    # -- one request ----------------------------------------------------------------------------------------

    def _post(self, body: dict[str, Any], watch: _Watch) -> str:
        data = json.dumps(body).encode()
        last: _Failure | None = None
        for attempt in range(self.max_retries + 1):
            if attempt and watch.cancelled.wait(self.backoff * 2 ** (attempt - 1)):
                raise _Cancelled
            if watch.cancelled.is_set():
                raise _Cancelled
            try:
                return self._parse(self._attempt(data, watch))
            except _Failure as e:
                last = e
                if not e.retry:
                    break
        assert last is not None
        raise GenerationError(self._redact(str(last)))

    def _attempt(self, data: bytes, watch: _Watch) -> bytes:
        url = self.endpoint
        u = urllib.parse.urlsplit(url)
        flight = _Flight(time.monotonic() + self.timeout)
        conn_cls = _HTTPS if u.scheme == "https" else _HTTP
        conn = conn_cls(u.hostname or "", u.port, flight, watch)
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "stagekit"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        connected = False
        resp: http.client.HTTPResponse | None = None
        watch.add(flight)
        try:
            conn.connect()
            connected = True
            conn.request("POST", u.path, body=data, headers=headers)
            resp = conn.getresponse()
            if 300 <= resp.status < 400:
                location = resp.getheader("Location")
                target = urllib.parse.urljoin(url, location) if location else "(no Location header)"
                raise _Failure(
                    f"{url} answered HTTP {resp.status}, a redirect to {target}: stagekit does not follow redirects "
                    f"(it would resend the request and the API key); use the final URL as the base URL",
                    retry=False,
                )
            if resp.status != 200:
                detail = self._read(resp, flight, limit=4096, url=url, capped=False)
                text = " ".join(detail.decode(errors="replace").split())[:300]
                raise _Failure(f"{url} answered HTTP {resp.status}: {text}", retry=resp.status in _RETRY_STATUS)
            return self._read(resp, flight, limit=self.max_response_bytes, url=url, capped=True)
        except _Cancelled:
            raise
        except _Failure:
            if watch.cancelled.is_set():
                raise _Cancelled from None
            raise
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            if watch.cancelled.is_set():
                raise _Cancelled from None
            if flight.expired or isinstance(e, TimeoutError):
                phase = "" if connected else " (while connecting)"
                raise _Failure(f"{url} timed out: no complete response within {self.timeout:g} s{phase}",
                               retry=True) from None
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            if not connected:
                raise _Failure(f"cannot connect to the OpenAI-compatible server at {url}: {reason}", retry=True) from None
            raise _Failure(f"the connection to {url} failed mid-request: {type(e).__name__}: {reason}",
                           retry=True) from None
        finally:
            watch.discard(flight)
            if resp is not None:
                resp.close()  # the response holds the socket open until closed
            conn.close()

    def _read(self, resp: http.client.HTTPResponse, flight: _Flight, *, limit: int, url: str, capped: bool) -> bytes:
        """The body, at most ``limit`` bytes: more is an error when ``capped``, else cut off."""
        length = resp.getheader("Content-Length")
        if capped and length and length.strip().isdigit() and int(length) > limit:
            raise _Failure(f"{url} announced a response of {int(length):,} bytes, over max_response_bytes="
                           f"{limit:,}", retry=False)
        buf = bytearray()
        while len(buf) <= limit:
            chunk = resp.read1(min(65536, limit + 1 - len(buf)))
            if not chunk:
                if flight.expired:
                    raise TimeoutError
                break
            buf += chunk
        if len(buf) > limit:
            if capped:
                raise _Failure(f"the response from {url} exceeds max_response_bytes={limit:,}; not read further",
                               retry=False)
            del buf[limit:]
        if flight.expired:
            raise TimeoutError
        return bytes(buf)

    def _parse(self, raw: bytes) -> str:
        url = self.endpoint
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            snippet = " ".join(raw[:200].decode(errors="replace").split())
            raise _Failure(f"{url} answered HTTP 200 with a body that is not JSON ({e}): {snippet!r}", retry=False) from None
        if isinstance(payload, dict) and "choices" not in payload and "error" in payload:
            err = json.dumps(payload["error"])[:300]
            raise _Failure(f"{url} answered HTTP 200 with an error: {err}", retry=False)
        path = ("choices", 0, "message", "content") if self.chat else ("choices", 0, "text")
        value: Any = payload
        where = ""  # the field reached so far: "choices[0].message"
        for key in path:
            shown = repr(where) if where else "the response"
            if isinstance(key, int):
                if not isinstance(value, list):
                    raise _Failure(f"{url}: response field {shown} is {_kind(value)}, expected a list", retry=False)
                if len(value) <= key:
                    raise _Failure(f"{url}: response field {shown} is an empty list", retry=False)
                value, where = value[key], f"{where}[{key}]"
            else:
                if not isinstance(value, dict):
                    raise _Failure(f"{url}: response field {shown} is {_kind(value)}, expected an object", retry=False)
                name = f"{where}.{key}" if where else key
                if key not in value:
                    raise _Failure(f"{url}: response field {name!r} is missing", retry=False)
                value, where = value[key], name
        if not isinstance(value, str):
            raise _Failure(f"{url}: response field {where!r} is {_kind(value)}, expected a string", retry=False)
        return value

    # -- many requests --------------------------------------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], *, n: int, sampling: Sampling) -> list[list[str]]:
        jobs = [(i, s) for i in range(len(prompts)) for s in range(n)]
        out: list[list[str]] = [[""] * n for _ in prompts]
        if not jobs:
            return out
        bar = progress(len(prompts), "generate (openai)", sampling.show_progress)
        done = [0] * len(prompts)
        watch = _Watch()

        def run(job: tuple[int, int]) -> tuple[int, int, str]:
            i, s = job
            return i, s, self._post(self._body(prompts[i], sampling, sampling.seed + s), watch)

        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs)), thread_name_prefix="stagekit-openai")
        try:
            futures: list[Future[tuple[int, int, str]]] = [pool.submit(run, job) for job in jobs]
            for fut in as_completed(futures):
                i, s, text = fut.result()
                out[i][s] = text
                done[i] += 1
                if done[i] == n:
                    bar.update(1)
        except BaseException:
            # Ctrl-C, or a request that failed for good: stop everything now, wait for nothing.
            watch.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            watch.stop()
            bar.close()
        pool.shutdown(wait=True)
        return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, (int, float)):
        return f"a number ({json.dumps(value)})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
