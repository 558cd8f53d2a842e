"""The ``serve:`` block of a ``mode: serve`` scenario: which server, which arrivals, which load points.

A serve scenario's runs are the same :class:`~bench.spec.RunSpec` values as an isolated sweep's, one per
``max_batch`` (as the batch size), so a served workload and its isolated runs share a run key.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bench.errors import clip
from bench.spec import STRICT, Arrivals, ServerKind

MAX_RATE_PER_S = 1000.0
MAX_CONCURRENCY = 256
MAX_BATCH = 64
MAX_POINTS = 32  # rates or concurrencies of one scenario
MAX_REQUESTS = 100_000
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class ServeSpec(BaseModel):
    """How a scenario's workload is served and loaded; every loop it drives is bounded in requests and time."""

    # strict: a YAML true, "5" or 1.5 where a number or count belongs is a mistake, not a value to coerce
    model_config = ConfigDict(**STRICT, allow_inf_nan=False, strict=True)

    server: ServerKind = "gradio"
    target_url: str | None = Field(default=None, max_length=2048)  # server url: an endpoint that already runs
    api: Literal["gradio", "openai"] | None = None  # server url: which kind target_url is (default openai)
    arrivals: Arrivals = "poisson"
    rates: list[float] | None = Field(default=None, min_length=1, max_length=MAX_POINTS)  # requests/s, open loop
    concurrency: list[int] | None = Field(default=None, min_length=1, max_length=MAX_POINTS)  # closed loop
    max_batch: list[int] = Field(default_factory=lambda: [1], min_length=1, max_length=8)
    batch_window_s: float | None = Field(default=None, ge=0.0, le=60.0)  # openai server: wait for a fuller batch
    duration_s: float = Field(default=600.0, gt=0.0, le=24 * 3600.0)  # per load point
    max_requests: int = Field(default=500, ge=1, le=MAX_REQUESTS)  # per load point
    slo_p99_s: float | None = Field(default=None, gt=0.0, le=24 * 3600.0)
    bisect_steps: int = Field(default=4, ge=0, le=20)  # extra load points the SLO search may add
    warmup: int = Field(default=2, ge=0, le=100)  # requests sent before any load point, not measured
    request_timeout_s: float = Field(default=300.0, gt=0.0, le=24 * 3600.0)
    startup_timeout_s: float = Field(default=600.0, gt=0.0, le=24 * 3600.0)  # until the server is healthy
    seed: int = Field(default=0, ge=0, le=2**63 - 1)

    @field_validator("max_batch", "concurrency", mode="before")
    @classmethod
    def _int_to_list(cls, value: object) -> object:
        if isinstance(value, (bool, str, float)):
            raise ValueError(f"must be a whole number or a list of them like [1, 2, 4], got {clip(value)}")
        return [value] if isinstance(value, int) else value

    @field_validator("rates", mode="before")
    @classmethod
    def _rate_to_list(cls, value: object) -> object:
        if isinstance(value, (bool, str)):
            raise ValueError(f"must be requests per second, a number or a list like [0.05, 0.1], got {clip(value)}")
        return [value] if isinstance(value, (int, float)) else value

    @field_validator("rates")
    @classmethod
    def _check_rates(cls, value: list[float] | None) -> list[float] | None:
        for rate in value or []:
            if not (math.isfinite(rate) and 0 < rate <= MAX_RATE_PER_S):
                raise ValueError(f"rates must be requests per second in (0, {MAX_RATE_PER_S:g}], got {rate!r}")
        return value

    @field_validator("concurrency")
    @classmethod
    def _check_concurrency(cls, value: list[int] | None) -> list[int] | None:
        for c in value or []:
            if not 1 <= c <= MAX_CONCURRENCY:
                raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, got {c}")
        return value

    @field_validator("max_batch")
    @classmethod
    def _check_batch(cls, value: list[int]) -> list[int]:
        for b in value:
            if not 1 <= b <= MAX_BATCH:
                raise ValueError(f"max_batch must be between 1 and {MAX_BATCH}, got {b}")
        if len(set(value)) != len(value):
            raise ValueError(f"max_batch lists a value twice: {value}")
        return value

    @field_validator("target_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        """An http(s) URL with a host, a port from 1 to 65535 if any, and nothing a client would send as it is
        or drop: no whitespace or control character (a CRLF would split the request line), no credentials (the
        URL is written into every record), no query or fragment (the route is added to it)."""
        if value is None:
            return None
        if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError(f"must be a URL without spaces or control characters, got {clip(value)}")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, got {clip(value)}")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"the port must be a number from 1 to 65535, got {clip(value)}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials (user:password@): the URL is written into every record")
        if parts.query or parts.fragment or value.endswith(("?", "#")):
            raise ValueError(f"must be the endpoint's base URL, without a ?query or #fragment, got {clip(value)}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_cross(self) -> ServeSpec:
        closed = self.arrivals == "closed"
        if closed and self.concurrency is None:
            raise ValueError("serve.concurrency: arrivals closed needs a concurrency list like [1, 2, 4]")
        if closed and self.rates is not None:
            raise ValueError("serve.rates: arrivals closed keeps a fixed concurrency; use concurrency, not rates")
        if not closed and self.rates is None:
            raise ValueError(f"serve.rates: arrivals {self.arrivals} needs a rates list (requests/s) like [0.05, 0.1]")
        if not closed and self.concurrency is not None:
            raise ValueError("serve.concurrency: applies to arrivals closed only; open-loop arrivals take rates")
        if (self.server == "url") != (self.target_url is not None):
            raise ValueError(
                "serve.target_url: required with server url (an endpoint that already runs)"
                if self.server == "url"
                else f"serve.target_url: only with server url; kbench starts the {self.server} server itself"
            )
        if self.api is not None and self.server != "url":
            raise ValueError(f"serve.api: only with server url; server {self.server} is its own kind")
        if self.batch_window_s is not None and self.server != "openai":
            raise ValueError("serve.batch_window_s: applies to server openai (Gradio batches what is waiting)")
        if self.server == "url" and self.max_batch != [1]:
            raise ValueError("serve.max_batch: an existing endpoint batches as it was started; leave max_batch out")
        return self

    @property
    def is_local_target(self) -> bool:
        """Whether the endpoint is on this machine (kbench's own servers always are)."""
        return self.target_url is None or urlsplit(self.target_url).hostname in LOCAL_HOSTS


def check_serve_hub(weights: str, hub: dict[str, str]) -> None:
    """A serve scenario's local ``hub:`` directories exist now, each with a saved pipeline (``model_index.json``).

    Its server loads them on this machine, after the start-up the run waits for: a missing one would be found
    only then, as a server that did not start. (An isolated run may load them elsewhere, with ``--executor``, so
    its scenario is not checked here.) A location that does not start with ``.``, ``/`` or ``~`` is a hub id.

    Raises:
        ValueError: ``hub.<role>: ...`` for the first location that is not such a directory.
    """
    if weights != "hub":
        return
    for role, location in hub.items():
        if not location.startswith((".", "/", "~")):
            continue
        directory = Path(location).expanduser()
        if not (directory / "model_index.json").is_file():
            what = "does not exist" if not directory.exists() else "holds no saved pipeline (model_index.json)"
            raise ValueError(
                f"hub.{role}: the local directory {clip(location)} {what}; a serve scenario's server loads it from "
                "this machine"
            )


__all__ = ["LOCAL_HOSTS", "Arrivals", "ServeSpec", "ServerKind", "check_serve_hub"]
