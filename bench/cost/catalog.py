"""The GPU catalog: specs, dated rental prices with sources, and published timings.

The bundled ``bench/data/gpus.yaml`` is validated on load, strictly: an unknown field, a price without a
source or a negative price is a :class:`~bench.errors.CatalogError` naming the file and the field. Users
merge their own YAML over it and override prices from the command line; a price is always data with a
date and a source, never a constant in code.

A price says what kind of page it was read in (``source_kind``): ``primary``, the provider's own price page,
or ``aggregator``, a third party's compilation (an article, a price-tracking repository) kept only where the
provider's own page could not be read. ``kbench gpus`` marks the aggregators' figures, so a reader knows which
prices rest on someone else's transcription. A user's own prices default to ``primary``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bench.errors import CatalogError, clip, located
from bench.yaml_files import read_yaml

CATALOG_SCHEMA_VERSION = 1
USER_PROVIDER = "user"
_DATE_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .nan/.inf specs and prices are typos
PriceKind = Literal["on-demand", "spot", "marketplace", "managed", "reserved"]
SourceKind = Literal["primary", "aggregator"]  # the provider's own page, or a third party's compilation


def _parse_date(value: object) -> str:
    if isinstance(value, (dt.date, int)) and not isinstance(value, bool):  # YAML reads 2024-05-01 as a date
        value = str(value)
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ValueError(f"must be YYYY, YYYY-MM or YYYY-MM-DD, got {clip(value)}")
    if value.count("-") == 2:  # the pattern allows 2024-02-30; the calendar does not
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value} is not a date on the calendar") from None
    return value


class Price(BaseModel):
    """One rental price in USD per GPU-hour, as published by one provider on one date."""

    model_config = _STRICT

    provider: str = Field(min_length=1)
    usd_per_hour: float = Field(gt=0)
    kind: PriceKind = "on-demand"  # how it is sold, for the price policy; ``tier`` is the provider's own words
    tier: str | None = None
    date: str
    source: str = Field(min_length=1)
    source_kind: SourceKind = "primary"
    note: str | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _check_date(cls, value: object) -> str:
        return _parse_date(value)

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a price needs a source (URL or document)")
        return value

    def label(self) -> str:
        """Short human label: provider and tier."""
        return f"{self.provider} ({self.tier})" if self.tier else self.provider


class GpuSpec(BaseModel):
    """One GPU model: the specs a roofline needs, the names NVML reports for it, and its prices."""

    model_config = _STRICT

    id: str
    name: str = Field(min_length=1)
    arch: str = Field(min_length=1)
    vram_gb: float = Field(gt=0)
    bandwidth_gbs: float = Field(gt=0)
    fp16_tensor_tflops: float = Field(gt=0)  # dense, FP32-accumulate rate on GeForce cards
    fp32_tflops: float = Field(gt=0)  # non-tensor
    tf32_tensor_tflops: float | None = Field(default=None, gt=0)  # dense; None: half the FP16 rate (Ampere on)
    tdp_w: float = Field(gt=0)
    pcie_gen: int | None = Field(default=None, ge=1, le=6)  # host link: PCIe generation of its x16 slot
    bf16: bool = True
    nvml_names: list[str] = Field(min_length=1)
    spec_source: str = Field(min_length=1)
    prices: list[Price] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(f"ids are lower-case letters, digits, '-' and '.', got {value!r}")
        return value

    def cheapest_price(self, providers: list[str] | None = None) -> Price | None:
        """The price a renter would use: a user price if one was given, else the lowest listed.

        Args:
            providers: keep only prices whose provider contains one of these (case-insensitive);
                user prices are always kept, since the user gave them on purpose.
        """
        wanted = [p.lower() for p in providers] if providers else None
        candidates = [
            p
            for p in self.prices
            if p.provider == USER_PROVIDER or wanted is None or any(w in p.provider.lower() for w in wanted)
        ]
        user = [p for p in candidates if p.provider == USER_PROVIDER]
        pool = user or candidates
        return min(pool, key=lambda p: p.usd_per_hour) if pool else None

    def peak_tflops(self, dtype: str) -> float:
        """Peak dense rate for a dtype: tensor FP16/BF16, else FP32; BF16 without native support runs at FP32 rate."""
        if dtype == "fp16" or (dtype == "bf16" and self.bf16):
            return self.fp16_tensor_tflops
        return self.fp32_tflops


class PublishedTiming(BaseModel):
    """A dated public timing of a diffusion workload on one GPU, used to fit and to check projections."""

    model_config = _STRICT

    gpu: str
    model: str
    resolution: str
    steps: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    dtype: Literal["fp16", "bf16", "fp32"]
    unit: Literal["s_per_image", "it_per_s"]
    value: float = Field(gt=0)
    use: Literal["fit", "check"]
    source: str = Field(min_length=1)
    date: str
    note: str | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _check_date(cls, value: object) -> str:
        return _parse_date(value)


class GuideVram(BaseModel):
    """A row of the deployment guide's VRAM table, checked against kbench's own estimate."""

    model_config = _STRICT

    model: str
    label: str
    vram_gb: float = Field(gt=0)
    suggested_gpu: str
    resolution: str
    source: str = Field(min_length=1)
    note: str | None = None


class CatalogFile(BaseModel):
    """The whole YAML document."""

    model_config = _STRICT

    schema_version: int = CATALOG_SCHEMA_VERSION
    gpus: list[GpuSpec] = Field(default_factory=list)
    published_timings: list[PublishedTiming] = Field(default_factory=list)
    guide_vram: list[GuideVram] = Field(default_factory=list)


@dataclass
class Catalog:
    """GPUs by id, plus the published timings and the files it was read from."""

    gpus: dict[str, GpuSpec]
    published_timings: list[PublishedTiming] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    guide_vram: list[GuideVram] = field(default_factory=list)

    def get(self, gpu_id: str) -> GpuSpec:
        """Look a GPU up by id; the error lists the known ids."""
        try:
            return self.gpus[gpu_id]
        except KeyError:
            raise CatalogError(f"unknown GPU {gpu_id!r}; known: {', '.join(sorted(self.gpus))}") from None

    def match_nvml_name(self, name: str) -> GpuSpec | None:
        """The entry whose NVML name equals ``name`` (case and spacing ignored), or None."""
        want = _norm(name)
        for gpu in self.gpus.values():
            if any(_norm(n) == want for n in gpu.nvml_names):
                return gpu
        stripped = want.removeprefix("nvidia ")
        for gpu in self.gpus.values():
            if any(_norm(n).removeprefix("nvidia ") == stripped for n in gpu.nvml_names):
                return gpu
        return None


def _norm(name: str) -> str:
    return " ".join(name.lower().split())


def bundled_catalog_path() -> Path:
    """Where the catalog shipped with the package lives."""
    return Path(str(resources.files("bench") / "data" / "gpus.yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    _, data = read_yaml(path, CatalogError, "GPU catalog")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogError(located("top level must be a mapping with a 'gpus:' list", file=path))
    return data


def _error_field(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """Render a pydantic location, naming a GPU by its id rather than its index."""
    out = ""
    node: Any = data
    for part in loc:
        label: int | str = part
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                label = node["id"]
        elif isinstance(node, dict):
            node = node.get(part)
        out += f"[{label}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _raise_validation(err: ValidationError, path: Path, data: dict[str, Any]) -> None:
    e = err.errors()[0]
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown field"
    elif e["type"] == "missing":
        msg = "required field is missing"
    raise CatalogError(located(msg, file=path, field=_error_field(loc, data))) from None


def _validate_file(path: Path, data: dict[str, Any]) -> CatalogFile:
    try:
        parsed = CatalogFile.model_validate(data)
    except ValidationError as err:
        _raise_validation(err, path, data)
        raise AssertionError("unreachable") from None
    if parsed.schema_version > CATALOG_SCHEMA_VERSION:
        raise CatalogError(
            located(f"{parsed.schema_version} is newer than this kbench reads", file=path, field="schema_version")
        )
    return parsed


def _merge_user(gpus: dict[str, GpuSpec], path: Path, data: dict[str, Any]) -> list[PublishedTiming]:
    """Merge a user file: a known id may give only the fields it changes; its prices add to the bundled ones."""
    raw_gpus = data.get("gpus", [])
    if not isinstance(raw_gpus, list):
        raise CatalogError(located("must be a list of GPU entries", file=path, field="gpus"))
    merged: list[dict[str, Any]] = []
    for index, entry in enumerate(raw_gpus):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise CatalogError(located("each entry needs an 'id'", file=path, field=f"gpus[{index}]"))
        base = gpus.get(entry["id"])
        if base is None:
            merged.append(entry)
            continue
        full = base.model_dump()
        full.update({k: v for k, v in entry.items() if k != "prices"})
        full["prices"] = [*(entry.get("prices") or []), *full["prices"]]
        merged.append(full)
    parsed = _validate_file(path, {**data, "gpus": merged})
    for gpu in parsed.gpus:
        gpus[gpu.id] = gpu
    return parsed.published_timings


def parse_price_overrides(items: list[str]) -> dict[str, float]:
    """Parse ``--price rtx4090=0.35`` options into ``{"rtx4090": 0.35}``."""
    out: dict[str, float] = {}
    for item in items:
        gpu_id, sep, value = item.partition("=")
        try:
            usd = float(value) if sep else float("nan")
        except ValueError:
            usd = float("nan")
        if not gpu_id.strip() or not math.isfinite(usd):
            raise CatalogError(f"--price: expected GPU_ID=USD_PER_HOUR like rtx4090=0.35, got {item!r}")
        out[gpu_id.strip()] = usd
    return out


def load_catalog(extra_yaml: Path | None = None, overrides: dict[str, float] | None = None) -> Catalog:
    """Load the bundled catalog, merge a user YAML over it, then apply command-line price overrides.

    Args:
        extra_yaml: a user file of the same shape; new ids are added, known ids updated field by field.
        overrides: GPU id -> USD per hour; recorded as provider ``user`` dated today.

    Raises:
        CatalogError: naming the file and field of the first invalid entry, or an unknown override id.
    """
    bundled = bundled_catalog_path()
    parsed = _validate_file(bundled, _read_yaml(bundled))
    gpus: dict[str, GpuSpec] = {}
    for gpu in parsed.gpus:
        if gpu.id in gpus:
            raise CatalogError(located(f"id {gpu.id!r} is listed twice", file=bundled, field="gpus"))
        gpus[gpu.id] = gpu
    published = list(parsed.published_timings)
    files = [str(bundled)]
    if extra_yaml is not None:
        extra_yaml = Path(extra_yaml)
        published += _merge_user(gpus, extra_yaml, _read_yaml(extra_yaml))
        files.append(str(extra_yaml))
    catalog = Catalog(gpus=gpus, published_timings=published, files=files, guide_vram=list(parsed.guide_vram))
    for gpu_id, usd in (overrides or {}).items():
        gpu = catalog.get(gpu_id)
        if not usd > 0:
            raise CatalogError(f"--price {gpu_id}: USD per hour must be > 0, got {usd}")
        price = Price(
            provider=USER_PROVIDER,
            usd_per_hour=usd,
            tier="override",
            date=dt.date.today().isoformat(),
            source="--price on the command line",
        )
        catalog.gpus[gpu_id] = gpu.model_copy(update={"prices": [price, *gpu.prices]})
    return catalog


__all__ = [
    "USER_PROVIDER",
    "Catalog",
    "CatalogFile",
    "GpuSpec",
    "GuideVram",
    "Price",
    "PriceKind",
    "PublishedTiming",
    "SourceKind",
    "bundled_catalog_path",
    "load_catalog",
    "parse_price_overrides",
]
