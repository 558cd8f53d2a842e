"""No test here reaches the network: sockets refuse to connect, and gpuhunt's catalog URL points nowhere.

gpuhunt downloads its offline catalogs and queries its online providers over HTTP; a refresh in these tests
reads CSV files from ``GPUHUNT_CATALOG_DIR`` instead, and every provider that would go online fails fast,
which is exactly the failure a refresh must turn into a warning. The marketplace tests serve a recorded answer
on the loopback interface (:class:`Recorded`, ``loopback_only``); every other address stays refused there.
"""

from __future__ import annotations

import shutil
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.cost.prices.cache import price_cache_path

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# before any test patches them; create_connection looks both up again when called
_REAL_GETADDRINFO, _REAL_CONNECT, _REAL_CREATE = socket.getaddrinfo, socket.socket.connect, socket.create_connection


class NetworkOff(OSError):
    """Raised by every attempt to open a connection during these tests."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise NetworkOff("the network is off in the tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("GPUHUNT_CATALOG_URL", "http://127.0.0.1:9")  # never the real bucket, even if a guard fails
    monkeypatch.delenv("GPUHUNT_CATALOG_DIR", raising=False)


@pytest.fixture
def loopback_only(no_network: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``no_network``, but the loopback interface stays reachable for a recorded server."""

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in LOOPBACK:
            raise NetworkOff(f"the network is off in the tests ({host})")
        return _REAL_GETADDRINFO(host, *args, **kwargs)  # type: ignore[arg-type]

    def connect(self: socket.socket, address: object) -> None:
        if not (isinstance(address, tuple) and address[0] in LOOPBACK):
            raise NetworkOff(f"the network is off in the tests ({address})")
        _REAL_CONNECT(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", _REAL_CREATE)
    for name in ("CLORE_API_KEY", "VAST_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@dataclass(frozen=True)
class Request:
    """One request the recorded server got (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Recorded:
    """A recorded JSON answer served on 127.0.0.1 at one path (404 elsewhere), and the requests it got."""

    def __init__(self, path: str, body: bytes) -> None:
        self.body = body
        self.requests: list[Request] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sent = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append(Request(self.command, self.path, headers, sent))
                found = self.path == path
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(outer.body if found else b"{}")

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calls(self, header: str) -> list[tuple[str, str | None]]:
        """(path, that header) of every request, in order."""
        return [(r.path, r.headers.get(header.lower())) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def price_cache():
    """The price cache starts and ends empty in every test; the op-count cache beside it is left alone."""
    path = price_cache_path()
    assert path is not None
    shutil.rmtree(path.parent, ignore_errors=True)
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)
