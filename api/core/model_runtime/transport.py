"""An httpx transport over urllib3: the providers keep httpx's API, responses are read by urllib3.

Why: a streamed completion is one HTTP chunk per token, and httpx's own HTTP/1.1 stack (httpcore + h11, pure
Python) spent about 25 µs of CPU per chunk, most of a worker's time per token; urllib3 reads chunks through the
standard library's buffered socket reader for about a third of that. Everything above the wire stays httpx:
timeouts, redirects (the client follows them through this transport), content decoding (raw bytes are handed up
with their Content-Encoding), and proxies from the environment (httpx mounts its own transports for those).

urllib3's errors are raised as the httpx exceptions httpx's transport would raise, so callers map one family.
"""

from __future__ import annotations

from collections.abc import Iterator

import certifi
import httpx
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    EmptyPoolError,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

READ_SIZE = 65536
# A reader that stops early (an SSE parser at `data: [DONE]`) leaves the body's last bytes unread: the chunked
# terminator, maybe a final frame. Reading them, if they are small and arrive within DRAIN_SECONDS, keeps the connection
# for the next request instead of paying a new TCP connection per model call.
DRAIN_SECONDS = 0.05
DRAIN_LIMIT = 65536


class Urllib3Transport(httpx.BaseTransport):
    """At most `max_connections` connections per host (a request waits up to the pool timeout for one), all of
    them kept alive for reuse."""

    def __init__(self, *, max_connections: int) -> None:
        # certifi's CA bundle, as httpx's own transport uses: the same servers are trusted as before
        self._pool = urllib3.PoolManager(maxsize=max_connections, block=True, retries=False, cert_reqs="CERT_REQUIRED",
                                         ca_certs=certifi.where())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL protocol {request.url.scheme!r}", request=request)
        timeouts = request.extensions.get("timeout", {})
        timeout = urllib3.Timeout(connect=timeouts.get("connect"), read=timeouts.get("read"))
        try:
            response = self._pool.urlopen(
                request.method, str(request.url), body=request.read() or None,
                headers=dict(request.headers), preload_content=False, decode_content=False, redirect=False,
                retries=False, timeout=timeout, pool_timeout=timeouts.get("pool"))
        except Exception as exc:
            raise _httpx_error(exc, request) from exc
        return httpx.Response(response.status, headers=list(response.headers.iteritems()),
                              stream=_ResponseStream(response, request),
                              extensions={"http_version": b"HTTP/1.1",
                                          "reason_phrase": (response.reason or "").encode("latin-1", "replace")})

    def close(self) -> None:
        self._pool.clear()


class _ResponseStream(httpx.SyncByteStream):
    """The body as it arrives: one item per HTTP chunk (chunked encoding), else whatever one read returns."""

    def __init__(self, response: urllib3.BaseHTTPResponse, request: httpx.Request) -> None:
        self._response, self._request, self._complete = response, request, False
        self._reads: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        if response.chunked and response.supports_chunked_reads():
            self._reads = response.read_chunked(decode_content=False)
        else:
            self._reads = iter(lambda: response.read1(READ_SIZE, decode_content=False), b"")
        try:
            # Not `yield from`: a reader that stops early closes this generator, and that must not close urllib3's
            # (it would drop the connection): `close` may still finish the body through `self._reads`.
            for data in self._reads:  # noqa: UP028
                yield data
        except Exception as exc:
            raise _httpx_error(exc, self._request) from exc
        self._complete = True

    def close(self) -> None:
        response = self._response
        # unread bytes would be read as the next response on a reused connection: finish the body or drop it
        if not self._complete and not self._drain():
            if self._reads is not None and hasattr(self._reads, "close"):
                self._reads.close()
            response.close()
        response.release_conn()

    def _drain(self) -> bool:
        """Read the rest of a body whose reader stopped short, if it is at most DRAIN_LIMIT bytes and has arrived
        within DRAIN_SECONDS (a stream stopped mid-answer has not: it is dropped at once). True when the body was
        read to its end, so its connection can be reused."""
        response = self._response
        sock = getattr(response.connection, "sock", None)
        if self._reads is None or sock is None or (not response.chunked and response.length_remaining is None):
            return False  # never read, or close-delimited (the connection ends with the body anyway)
        try:
            sock.settimeout(DRAIN_SECONDS)  # urllib3 sets the next request's own timeouts when it reuses it
            read = 0
            for data in self._reads:
                read += len(data)
                if read > DRAIN_LIMIT:
                    return False
        except Exception:
            return False
        return True


def _httpx_error(exc: Exception, request: httpx.Request) -> Exception:
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason  # type: ignore[assignment]
    message = str(exc)
    if isinstance(exc, NewConnectionError):  # urllib3 derives it from ConnectTimeoutError: refused, unresolvable
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, ConnectTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, ReadTimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, EmptyPoolError):
        return httpx.PoolTimeout(message, request=request)
    if isinstance(exc, ProxyError):
        return httpx.ProxyError(message, request=request)
    if isinstance(exc, SSLError | ConnectionError):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, LocationValueError):
        return httpx.InvalidURL(message)
    if isinstance(exc, ProtocolError | Urllib3Error | OSError):
        return httpx.RemoteProtocolError(message, request=request)
    return exc
