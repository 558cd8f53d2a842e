"""What goes over the wire to an OpenAI-style images endpoint, and what is read back from it.

The request body is OpenAI's (``prompt``, ``size``, ``response_format: b64_json``) plus only the fields the
scenario asked for: kbench's own server always takes its extension fields (``negative_prompt``, ``steps``,
``guidance_scale``, ``seed``), an endpoint gets them only when ``extra_body`` lists them, since a strict server
refuses what it does not know. The API key is read from the environment when the run starts, sent in a header
and kept out of everything written: an error text that echoes it (some servers quote the key they refused) is
redacted before it reaches a record or a log line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from bench.scenario.serve import ServeSpec
from bench.serve.engine import GenRequest, Served

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4  # shorter "keys" are not searched for in error texts (they would blank out ordinary words)


class MissingKey(ValueError):
    """The API key's environment variable is unset, empty or not sendable; ``str()`` names the variable only."""


@dataclass(frozen=True)
class Auth:
    """The headers sent with every request to an endpoint, and the values that must never be written."""

    headers: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    def redact(self, text: str, limit: int = 240) -> str:
        """``text`` with every secret replaced, then cut to ``limit`` characters: what an error may carry into a
        record or a log line (replaced before the cut, so a secret split by it cannot leave a piece behind)."""
        longest = max((len(s) for s in self.secrets), default=0)
        text = text[: limit + longest]
        for secret in self.secrets:
            if len(secret) >= MIN_SECRET_CHARS:
                text = text.replace(secret, REDACTED)
        return text[:limit]


def endpoint_auth(serve: ServeSpec, environ: Mapping[str, str] | None = None) -> Auth:
    """The scenario's headers, and the API key from ``serve.api_key_env`` in its header.

    Raises:
        MissingKey: the variable is unset or empty, or its value has characters a header cannot carry (the
            message names the variable, never the value).
    """
    headers = dict(serve.headers or {})
    if serve.api_key_env is None:
        return Auth(headers)
    env = os.environ if environ is None else environ
    key = env.get(serve.api_key_env, "").strip()
    if not key:
        raise MissingKey(f"serve.api_key_env: the environment variable {serve.api_key_env} is not set or is empty")
    if any(not ("!" <= c <= "~") for c in key) or len(key) > 8192:
        raise MissingKey(
            f"serve.api_key_env: the value of {serve.api_key_env} is not a key a header can carry "
            "(visible ASCII without spaces, at most 8192 characters)"
        )
    name = serve.api_key_header or "Authorization"
    headers[name] = f"Bearer {key}" if name.lower() == "authorization" else key
    return Auth(headers, (key,))


def openai_base_url(url: str) -> str:
    """The server's root: a base URL given the openai client's way (``.../v1``, with or without a trailing
    slash) names the same server as its root, and the route (``/v1/images/generations``) is added once."""
    base = url.rstrip("/")
    return base.removesuffix("/v1").rstrip("/") if base.endswith("/v1") else base


def request_body(request: GenRequest, extension: Sequence[str], extra: Mapping[str, object]) -> dict[str, object]:
    """One request's JSON body: OpenAI's fields, the extension fields asked for (where the run sets them), then
    the endpoint's own literal fields."""
    body: dict[str, object] = {"prompt": request.prompt, "response_format": "b64_json"}
    if request.width and request.height:
        body["size"] = f"{request.width}x{request.height}"
    for name in extension:
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    body.update(extra)
    return body


@dataclass(frozen=True)
class Reply:
    """A parsed reply: ``error`` set for any body that is not images; ``urls`` are images still to fetch."""

    served: Served | None = None
    error: str | None = None
    urls: tuple[str, ...] = ()


def parse_openai_reply(content: bytes) -> Reply:
    """The images reply, or why it is not one: not JSON, nested past any sane depth, JSON of another shape, a
    ``kbench`` timing that cannot be a server's, an item with neither ``b64_json`` nor ``url``. A hostile reply
    is a failed request, never an error of the run."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError) as exc:
        return Reply(error=f"unreadable reply: {type(exc).__name__}: {str(exc)[:200]}")
    if not isinstance(data, dict):
        return Reply(error=f"unreadable reply: a JSON {type(data).__name__}, not an object")
    items = data.get("data")
    if not isinstance(items, list) or not items:
        return Reply(error="reply has no images")
    served = None
    if (timing := data.get("kbench")) is not None:
        try:
            served = Served.model_validate(timing)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(["kbench", *(str(p) for p in first["loc"])])
            return Reply(error=f"unreadable reply: {where}: {first['msg']}"[:240])
    urls: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
            continue
        if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]:
            urls.append(item["url"])
            continue
        return Reply(error=f"reply has no image at data[{index}]: neither b64_json nor url")
    return Reply(served=served, urls=tuple(urls))


__all__ = [
    "REDACTED",
    "Auth",
    "MissingKey",
    "Reply",
    "endpoint_auth",
    "openai_base_url",
    "parse_openai_reply",
    "request_body",
]
