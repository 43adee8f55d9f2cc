"""The urllib3-backed httpx transport against a real HTTP server on 127.0.0.1: streaming as bytes arrive (chunked
and close-delimited), content decoding, connection reuse after an abandoned stream, and httpx's error types."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from api.core.model_runtime.transport import Urllib3Transport

RELEASE = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.peers.add(self.client_address)  # type: ignore[attr-defined]
        if self.path == "/chunked":  # each part held until the test releases it
            self._chunked((b"data: one\n\n", b"data: two\n\n"), lambda: RELEASE.wait(5))
        elif self.path == "/sse-done":  # the answer, [DONE], then the terminator a moment later
            self._chunked((b"data: one\n\n", b"data: [DONE]\n\n"), lambda: None, end_after=0.01)
        elif self.path == "/close-delimited":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"data: one\n\n")
            self.wfile.flush()
            RELEASE.wait(5)
            self.wfile.write(b"data: two\n\n")
            self.close_connection = True
        elif self.path == "/gzip":
            body = gzip.compress(b'{"ok": true}')
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/long":
            body = b"x" * 1_000_000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            body = b"small"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


    def _chunked(self, parts: tuple[bytes, ...], after_each: Callable[[], object], end_after: float = 0.0) -> None:
        """`parts` as one HTTP chunk each, flushed one by one, then the terminator `end_after` seconds later."""
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            self.wfile.write(b"%x\r\n%b\r\n" % (len(part), part))
            self.wfile.flush()
            after_each()
        time.sleep(end_after)
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.peers = set()  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    RELEASE.clear()
    yield httpd
    RELEASE.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(transport=Urllib3Transport(max_connections=4), timeout=5.0) as http:
        yield http


def _url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


@pytest.mark.parametrize("path", ["/chunked", "/close-delimited"])
def test_body_bytes_are_handed_up_as_they_arrive(server, client, path):
    with client.stream("GET", _url(server, path)) as response:
        chunks = response.iter_bytes()
        first = next(chunks)  # the server holds the second part until released: no waiting for a full buffer
        RELEASE.set()
        rest = b"".join(chunks)
    assert first == b"data: one\n\n"
    assert rest == b"data: two\n\n"


def test_content_encoding_is_decoded_by_httpx(server, client):
    response = client.get(_url(server, "/gzip"))
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_a_stream_closed_early_does_not_leave_its_bytes_for_the_next_request(server, client):
    with client.stream("GET", _url(server, "/long")) as response:
        assert next(response.iter_raw())  # read a little, then abandon the rest
    again = client.get(_url(server, "/small"))
    assert again.text == "small"
    reused = client.get(_url(server, "/small"))
    assert reused.text == "small"


def _read_until_done(client: httpx.Client, url: str) -> list[bytes]:
    lines = []
    with client.stream("GET", url) as response:
        for line in response.iter_lines():
            if line == "data: [DONE]":
                break  # what an SSE parser does: it never reads the body's terminator
            if line:
                lines.append(line)
    return lines


def test_a_stream_left_at_its_done_frame_keeps_its_connection(server, client):
    for _ in range(3):
        assert _read_until_done(client, _url(server, "/sse-done")) == ["data: one"]
    assert client.get(_url(server, "/small")).text == "small"
    assert len(server.peers) == 1  # type: ignore[attr-defined]


def test_a_stream_stopped_mid_answer_is_dropped_without_waiting_for_the_rest(server, client):
    started = time.monotonic()
    with client.stream("GET", _url(server, "/chunked")) as response:
        assert next(response.iter_bytes()) == b"data: one\n\n"  # the server holds the rest until released
    assert time.monotonic() - started < 2  # not the 5 s the server would hold it
    assert client.get(_url(server, "/small")).text == "small"
    assert len(server.peers) == 2  # type: ignore[attr-defined]  # the stopped stream's connection was not reused


def test_complete_responses_reuse_their_connection(server, client):
    for _ in range(3):
        assert client.get(_url(server, "/small")).text == "small"
    assert len(server.peers) == 1  # type: ignore[attr-defined]


def test_transport_failures_raise_httpx_errors(client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    with pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{port}/")
    with pytest.raises(httpx.UnsupportedProtocol):
        client.get("ftp://127.0.0.1/")


def test_a_silent_server_is_a_read_timeout(server):
    with httpx.Client(transport=Urllib3Transport(max_connections=1), timeout=httpx.Timeout(5.0, read=0.2)) as http:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout), http.stream("GET", _url(server, "/chunked")) as response:
            for _ in response.iter_bytes():
                pass
    assert time.monotonic() - started < 4
