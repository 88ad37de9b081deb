"""The operations server of a running `poller run` (control API on, token set) under malformed
requests sent over raw sockets: invalid methods, paths, versions and headers, conflicting
framing, oversized and truncated requests, slowloris heads.

Every whole request head is answered, within a socket timeout, with a 2xx for a legitimate
request or a 4xx (never a 5xx: /readyz's 503 is its contract, not a fault); the daemon logs no
traceback and no route failure; afterwards /healthz answers and an SQS message is handled end
to end. POLLER_TEST_SCALE=full runs many more generated requests.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scale import scaled
from sqs_support import (
    config_yaml,
    depth,
    json_lines,
    logged_port,
    make_queue,
    scrape,
    send,
    start_poller,
    stop_poller,
    unique,
    until,
)

pytestmark = pytest.mark.integration
TOKEN = b"fuzz-control-token-7d0e4b1a"
ANSWER_TIMEOUT = 10.0  # a whole request head is answered well within this, or it hangs
FUZZ = settings(
    max_examples=scaled(60, 3000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_STATUS = re.compile(rb"^HTTP/\d\.\d (\d{3})[ \r]")


@dataclass
class _Daemon:
    port: int
    output: Path
    sqs: Any
    queue_url: str


@contextmanager
def _daemon(endpoint: str, sqs: Any, tmp_path: Path) -> Iterator[_Daemon]:
    """`poller run` on one SQS queue with the control API on; stopped (exit 0) at the end."""
    queue = unique("q")
    url = make_queue(sqs, queue)
    config = tmp_path / "poller.yaml"
    text = config_yaml(endpoint, queue).replace(
        'http: {listen: "127.0.0.1:0"}', 'http: {listen: "127.0.0.1:0", control: true}'
    )
    config.write_text(text + "logging: {level: debug, format: json}\n")
    output = tmp_path / "poller.log"
    proc = start_poller(config, output, POLLER_CONTROL_TOKEN=TOKEN.decode())
    try:
        until(lambda: logged_port(output) is not None or proc.poll() is not None, 30)
        port = logged_port(output)
        assert port is not None, output.read_text()
        until(lambda: _get(port, "/readyz") == 200, 30)
        yield _Daemon(port, output, sqs, url)
    finally:
        assert stop_poller(proc) == 0, output.read_text()[-3000:]


def _get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _still_serving(daemon: _Daemon) -> None:
    """/healthz answers, a message sent now is handled and deleted, and nothing went wrong in
    the daemon's own log."""
    assert _get(daemon.port, "/healthz") == 200
    before = scrape(daemon.port, "poller_deleted_events_total")
    send(daemon.sqs, daemon.queue_url, ["after the fuzz"])
    until(lambda: scrape(daemon.port, "poller_deleted_events_total") > before, 30)
    assert depth(daemon.sqs, daemon.queue_url) == 0
    text = daemon.output.read_text()
    assert "Traceback" not in text
    assert not [e for e in json_lines(daemon.output) if e.get("level") in ("error", "critical")]


def exchange(port: int, request: bytes, timeout: float = ANSWER_TIMEOUT) -> int | None:
    """Send `request` and return the status of the first final (non-1xx) response, or None
    when the server closes the connection without one. A response that does not come within
    `timeout` fails the test: that would be a hang. The request is written from another thread,
    so a server that answers before reading a large body does not dead-lock the two."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:

        def write() -> None:
            # The server may answer and close before taking it all: that answer is read.
            with contextlib.suppress(OSError):
                sock.sendall(request)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        try:
            return _first_final_status(sock)
        except TimeoutError:
            raise AssertionError(f"no answer within {timeout}s to {request[:200]!r}") from None
        finally:
            with contextlib.suppress(OSError):  # the server may have reset it already
                sock.shutdown(socket.SHUT_RDWR)
            writer.join(timeout)


def _first_final_status(sock: socket.socket) -> int | None:
    received = b""
    while True:
        head, sep, rest = received.partition(b"\r\n\r\n")
        if sep:
            match = _STATUS.match(head)
            assert match, f"not an HTTP response: {head[:200]!r}"
            status = int(match[1])
            if status >= 200:
                return status
            received = rest  # 100 Continue: the final answer follows
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            assert not received, f"a truncated response: {received[:200]!r}"
            return None
        received += chunk


def _acceptable(status: int | None, path: bytes) -> bool:
    if status is None:
        return False
    if status == 503 and path == b"/readyz":  # its contract: a mapping's source call failed
        return True
    return 200 <= status < 500


# ---------------------------------------------------------------- generated requests


def _junk(min_size: int, max_size: int) -> st.SearchStrategy[bytes]:
    """Any bytes but CR and LF, so the request keeps its line structure."""
    return st.binary(min_size=min_size, max_size=max_size).map(
        lambda b: b.replace(b"\r", b"").replace(b"\n", b"")
    )


_LEGIT_PATHS = [
    b"/healthz",
    b"/readyz",
    b"/metrics",
    b"/mappings",
    b"/mappings/nope/disable",
    b"/mappings/nope/enable",
    b"/mappings/nope/frobnicate",
]
_PATH_PARTS = [b"%", b"%0", b"%00", b"%ff", b"%zz", b"%2e%2e", b"%2f", b"%c0%af", b"..", b"/"]
_PATH_PARTS += [b"\x00", b"?", b"?a=%00&", b"#", b"~", b"*", b"\xff", b" ", b"mappings", b"\t"]
_METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"TRACE"]
_METHODS += [b"CONNECT", b"PRI", b"get", b"G\x00T", b"", b"GET GET"]
methods = st.one_of(
    st.sampled_from(_METHODS),
    _junk(0, 40),
)
paths = st.one_of(
    st.sampled_from([*_LEGIT_PATHS, b"*", b"http://x/healthz", b"//healthz", b"/../healthz"]),
    st.integers(2000, 20000).map(lambda n: Repeat(b"a", n)),
    st.lists(st.sampled_from(_PATH_PARTS), max_size=40).map(lambda p: b"/" + b"".join(p)),
    _junk(0, 300),
)
versions = st.one_of(
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9.9", b"HTTP/1.1x", b""]),
    _junk(0, 12),
)
_NAMES = [b"Host", b"Content-Length", b"Transfer-Encoding", b"Authorization", b"Connection"]
_NAMES += [b"Expect", b"Content-Encoding", b"Content-Type", b"Upgrade", b"Cookie", b"Te"]
_VALUES = [b"0", b"-1", b"1", b"+5", b"0x10", b"99999999999999999999", b"chunked"]
_VALUES += [b"gzip, chunked", b"chunked, chunked", b"identity", b"chunked;x", b"100-continue"]
_VALUES += [b"close", b"keep-alive", b"Bearer " + TOKEN, b"bearer " + TOKEN, b"Bearer", b""]
_VALUES += [b"Bearer " + TOKEN + b"\x01", b"Bearer \xff\xfe", b"Basic Zm9vOmJhcg==", b"h2c"]
header_lists = st.one_of(
    st.lists(
        st.tuples(
            st.one_of(st.sampled_from(_NAMES), _junk(0, 40)),
            st.one_of(
                st.sampled_from(_VALUES),
                _junk(0, 200),
                st.integers(8000, 12000).map(lambda n: Repeat(b"v", n)),
            ),
        ),
        max_size=12,
    ),
    st.integers(50, 300).map(lambda n: [(Repeat(b"X-Many: y\r\nX", n), b"y")]),
)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=512),
    st.integers(64 * 1024, 512 * 1024).map(lambda n: Repeat(b"x", n)),  # over the body limit
)


@dataclass(frozen=True)
class Repeat:
    """`unit` repeated `times` times, drawn as this so that Hypothesis's report of a failing
    case (every draw's repr) stays short."""

    unit: bytes
    times: int

    def __bytes__(self) -> bytes:
        return self.unit * self.times

    def __repr__(self) -> str:
        return f"{self.unit!r} * {self.times}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis's printer
        printer.text(repr(self))


@dataclass(frozen=True)
class Request:
    """A generated request; its repr is cut short (Hypothesis prints it when a case fails)."""

    raw: bytes
    path: bytes

    def __repr__(self) -> str:
        return f"Request({self.raw[:400]!r}... {len(self.raw)} bytes)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@st.composite
def requests(draw: st.DrawFn) -> Request:
    """A request whose head is whole (so it must be answered), malformed in any part."""
    method, path, version = draw(methods), draw(paths), draw(versions)
    headers = draw(header_lists)
    if draw(st.booleans()) or not headers:
        headers = [(b"Host", b"poller"), *headers]  # HTTP/1.1 needs it to reach a route
    target = b"/" + bytes(path) if isinstance(path, Repeat) else path
    head = b"%s %s %s\r\n" % (method, target, version)
    head += b"".join(b"%s: %s\r\n" % (bytes(name), bytes(value)) for name, value in headers)
    return Request(head + b"\r\n" + bytes(draw(bodies)), target)


def test_generated_requests_get_a_4xx_or_a_legitimate_answer(
    endpoint: str, sqs: Any, tmp_path: Path
) -> None:
    with _daemon(endpoint, sqs, tmp_path) as daemon:

        @FUZZ
        @given(requests())
        def answered(request: Request) -> None:
            status = exchange(daemon.port, request.raw)
            assert _acceptable(status, request.path), (status, request)

        answered()
        _still_serving(daemon)


# ---------------------------------------------------------------- named malformed requests

_AUTH = b"Authorization: Bearer " + TOKEN + b"\r\n"
_POST = b"POST /mappings/nope/disable HTTP/1.1\r\nHost: x\r\n"
MALFORMED = [
    ("duplicate-content-length", _POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("content-length-and-chunked", _POST + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("unknown-transfer-encoding", _POST + b"Transfer-Encoding: gzip\r\n\r\n"),
    ("chunked-not-last", _POST + b"Transfer-Encoding: chunked, identity\r\n\r\n"),
    ("chunked-twice", _POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("bad-chunk-size", _POST + _AUTH + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
    ("negative-content-length", _POST + b"Content-Length: -1\r\n\r\n"),
    ("huge-content-length", _POST + _AUTH + b"Content-Length: 99999999999999999999999\r\n\r\n"),
    ("content-length-beyond-body", _POST + _AUTH + b"Content-Length: 100000\r\n\r\nshort"),
    ("header-line-too-long", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70000 + b"\r\n\r\n"),
    ("request-line-too-long", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("too-many-headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 5000 + b"\r\n"),
    ("nul-in-path", b"GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("nul-in-header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
    ("invalid-header-name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n"),
    ("token-with-control-char", _POST + b"Authorization: Bearer " + TOKEN + b"\x01\r\n\r\n"),
    ("non-utf8-token", _POST + b"Authorization: Bearer \xc3\x28\xff\xfe-not-the-token\r\n\r\n"),
    ("obsolete-line-folding", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\r\n  b\r\n\r\n"),
    ("bare-lf", b"GET /healthz HTTP/1.1\nHost: x\n\n"),
    ("duplicate-host", b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("no-host", b"GET /healthz HTTP/1.1\r\n\r\n"),
    ("unknown-version", b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n"),
    ("tls-client-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n"),
    ("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ("dot-dot-encoded", b"GET /mappings/%2e%2e/%2e%2e/healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bad-percent-encoding", _POST.replace(b"nope", b"%zz%ff%00") + _AUTH + b"\r\n"),
    ("gzip-body-not-gzip", _POST + _AUTH + b"Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope"),
    ("expect-unknown", b"GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n"),
    ("expect-continue", _POST + _AUTH + b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"),
    ("oversized-body", _POST + _AUTH + b"Content-Length: 8388608\r\n\r\n" + b"x" * 8388608),
    ("oversized-chunked-body", _POST + _AUTH + b"Transfer-Encoding: chunked\r\n\r\n" + b"100000\r\n" + b"x" * 1048576 + b"\r\n0\r\n\r\n"),
    ("connect-empty-target", b"CONNECT  \r\nHost: x\r\n\r\n"),  # crashed aiohttp's connection task
    ("websocket-upgrade", b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
]  # fmt: skip


def test_named_malformed_requests_get_a_4xx_or_a_legitimate_answer(
    endpoint: str, sqs: Any, tmp_path: Path
) -> None:
    with _daemon(endpoint, sqs, tmp_path) as daemon:
        answers = {name: exchange(daemon.port, request) for name, request in MALFORMED}
        wrong = {name: status for name, status in answers.items() if not _acceptable(status, b"")}
        assert not wrong, answers
        _still_serving(daemon)


# ---------------------------------------------------------------- slow and cut-off requests


def test_slow_and_truncated_requests_do_not_block_the_daemon(
    endpoint: str, sqs: Any, tmp_path: Path
) -> None:
    """Slowloris heads (a byte at a time, never finished) and requests cut off mid-head or
    mid-body: while many are open, and after they are dropped, every other request is answered
    at once."""
    partial = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        b"POST /mappings/nope/disable HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab",
        b"POST /mappings/nope/disable HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n",
        b"GET /heal",
        b"\r\n\r\n",
    ]
    with _daemon(endpoint, sqs, tmp_path) as daemon:
        held: list[socket.socket] = []
        try:
            for i in range(scaled(40, 400)):
                sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
                held.append(sock)
                sock.sendall(partial[i % len(partial)])
            # A slowloris trickle on every held connection: the server keeps each open (up to
            # its idle timeout) and serves other requests meanwhile.
            for _ in range(3):
                for sock in held[:: len(partial)]:
                    sock.sendall(b"a")
                assert exchange(daemon.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 5) == 200
            auth = b"POST /mappings/nope/disable HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            assert exchange(daemon.port, auth + TOKEN + b"\r\n\r\n", 5) == 404
        finally:
            for sock in held:
                sock.close()  # cut off: the server sees each request end half-way
        _still_serving(daemon)
