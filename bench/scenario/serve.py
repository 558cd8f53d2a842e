"""The ``serve:`` block of a ``mode: serve`` scenario: which server, which arrivals, which load points.

A serve scenario's runs are the same :class:`~bench.spec.RunSpec` values as an isolated sweep's, one per
``max_batch`` (as the batch size), so a served workload and its isolated runs share a run key.
"""

from __future__ import annotations

import json
import math
import re
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
# kbench's own inputs beyond the OpenAI images body; a url target gets them only when extra_body lists them
EXTENSION_FIELDS = ("negative_prompt", "steps", "guidance_scale", "seed")
OWN_BODY_FIELDS = ("prompt", "size", "n", "response_format")  # kbench sets these in every request body
MAX_HEADERS = 32
MAX_EXTRA_BODY_BYTES = 16 * 1024
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")  # an HTTP header name (RFC 9110 token)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_MANAGED_HEADERS = ("host", "content-length", "content-type", "transfer-encoding", "connection")


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
    # server url only: sent with every request to the endpoint (never written to a record)
    headers: dict[str, str] | None = None
    # server url only: the environment variable holding the endpoint's API key, read when the run starts; the key
    # is sent as ``Authorization: Bearer <key>`` (or as the value of api_key_header) and never written anywhere
    api_key_env: str | None = Field(default=None, max_length=128)
    api_key_header: str | None = Field(default=None, max_length=128)
    # server url, api openai only: kbench's extension fields to send (a list of their names, the run's values),
    # or fields of the endpoint's own with literal values (a mapping); nothing beyond the OpenAI body by default
    extra_body: list[str] | dict[str, object] | None = None

    @field_validator("headers", mode="before")
    @classmethod
    def _check_headers(cls, value: object) -> object:
        """Names that are HTTP tokens, values of visible ASCII (a CR LF would split the request), none that HTTP
        itself manages, and no key written out: a key goes through api_key_env."""
        if value is None:
            return None
        if not isinstance(value, dict) or len(value) > MAX_HEADERS:
            raise ValueError(f"must be a mapping of at most {MAX_HEADERS} header names to values, got {clip(value)}")
        for name, text in value.items():
            if not isinstance(name, str) or not _TOKEN.fullmatch(name):
                raise ValueError(f"{clip(name)} is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
            if not isinstance(text, str) or len(text) > 4096 or any(not (" " <= c <= "~") and c != "\t" for c in text):
                raise ValueError(f"{name}: the value must be text of visible ASCII characters, at most 4096")
            if name.lower() in _MANAGED_HEADERS:
                raise ValueError(f"{name}: set by the client itself; allowed: any other header")
            if name.lower() == "authorization":
                raise ValueError(
                    "Authorization: name the environment variable that holds the key in api_key_env instead; "
                    "a key written in a scenario file goes wherever the file goes"
                )
        return value

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError(f"must be the name of an environment variable (letters, digits, _), got {clip(value)}")
        return value

    @field_validator("api_key_header")
    @classmethod
    def _check_key_header(cls, value: str | None) -> str | None:
        if value is not None and (not _TOKEN.fullmatch(value) or value.lower() in _MANAGED_HEADERS):
            raise ValueError(f"must be an HTTP header name such as Authorization or api-key, got {clip(value)}")
        return value

    @field_validator("extra_body", mode="before")
    @classmethod
    def _check_extra_body(cls, value: object) -> object:
        """A list of kbench's extension fields, or a mapping of other fields to JSON values (bounded)."""
        if value is None:
            return None
        if isinstance(value, list):
            for name in value:
                if name not in EXTENSION_FIELDS:
                    raise ValueError(f"{clip(name)} is not a kbench field; allowed: {', '.join(EXTENSION_FIELDS)}")
            return value
        if not isinstance(value, dict):
            raise ValueError(
                f"must be a list of kbench's fields ({', '.join(EXTENSION_FIELDS)}) or a mapping of the "
                f"endpoint's fields to values, got {clip(value)}"
            )
        for name in value:
            if not isinstance(name, str) or not 0 < len(name) <= 128:
                raise ValueError(f"{clip(name)}: a field name must be text of 1 to 128 characters")
            if name in OWN_BODY_FIELDS:
                raise ValueError(f"{name}: kbench sets it in every request; allowed: any other field")
        try:
            size = len(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError, RecursionError):
            raise ValueError("values must be JSON: text, numbers, true/false, null, lists and mappings") from None
        if size > MAX_EXTRA_BODY_BYTES:
            raise ValueError(f"is {size:,} bytes as JSON; at most {MAX_EXTRA_BODY_BYTES:,}")
        return value

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
        for name in ("headers", "api_key_env", "api_key_header", "extra_body"):
            if getattr(self, name) is not None and self.server != "url":
                raise ValueError(f"serve.{name}: only with server url; kbench's own {self.server} server needs none")
        if self.extra_body is not None and self.api == "gradio":
            raise ValueError("serve.extra_body: only with api openai; a Gradio app takes its own inputs")
        if self.api_key_header is not None and self.api_key_env is None:
            raise ValueError("serve.api_key_header: names where the key goes; give api_key_env, the key's variable")
        key_header = (self.api_key_header or "Authorization").lower()
        if self.api_key_env is not None and key_header in {h.lower() for h in self.headers or {}}:
            raise ValueError(f"serve.headers: {self.api_key_header}: the key from api_key_env goes there")
        return self

    @property
    def extension_fields(self) -> tuple[str, ...]:
        """kbench's extension fields a request body carries: all of them for kbench's own openai server, for an
        endpoint only those extra_body lists (a strict OpenAI-compatible server refuses unknown fields)."""
        if self.server != "url":
            return EXTENSION_FIELDS
        return tuple(self.extra_body) if isinstance(self.extra_body, list) else ()

    @property
    def extra_fields(self) -> dict[str, object]:
        """The endpoint's own fields with their literal values, sent in every request body (extra_body mapping)."""
        return dict(self.extra_body) if isinstance(self.extra_body, dict) else {}

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


__all__ = ["EXTENSION_FIELDS", "LOCAL_HOSTS", "Arrivals", "ServeSpec", "ServerKind", "check_serve_hub"]
