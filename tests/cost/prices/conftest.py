"""No test here reaches the network: sockets refuse to connect, and gpuhunt's catalog URL points nowhere.

gpuhunt downloads its offline catalogs and queries its online providers over HTTP; a refresh in these tests
reads CSV files from ``GPUHUNT_CATALOG_DIR`` instead, and every provider that would go online fails fast,
which is exactly the failure a refresh must turn into a warning.
"""

from __future__ import annotations

import shutil
import socket

import pytest

from bench.cost.prices.cache import price_cache_path


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


@pytest.fixture(autouse=True)
def price_cache():
    """The price cache starts and ends empty in every test; the op-count cache beside it is left alone."""
    path = price_cache_path()
    assert path is not None
    shutil.rmtree(path.parent, ignore_errors=True)
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)
