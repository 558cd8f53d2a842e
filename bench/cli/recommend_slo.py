"""``kbench recommend --slo-p99 S [--rate R|auto]``: GPUs ranked by $ per image when served at a p99 SLO.

Parses and checks the serving options, asks the serving simulator (:mod:`bench.cost.serving`) for every GPU
the ordinary recommendation kept, and renders the ranked table (terminal, markdown) or JSON rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.cli.json_doc import Label, choice_json, figure
from bench.cli.recommend_view import MEMORY_SHORT, SOURCE_SHORT
from bench.cli.tables import format_table, markdown, terminal_width, wrap_notes
from bench.cost.catalog import Catalog
from bench.cost.projection import MeasuredIndex
from bench.cost.rental import RentalRow
from bench.cost.serving.estimate import SEEDS, TARGET_REL_HALFWIDTH
from bench.cost.serving.gpus import ServingRow, batch_estimates, serving_rows
from bench.cost.serving.point import EXACT_NAMES, LoadPoint
from bench.cost.serving.simulate import QueueConfig
from bench.errors import ScenarioError
from bench.spec import Workload

MAX_BATCH_LIMIT = 64
SERVING_ARRIVALS = ("poisson", "constant")


def parse_rate(text: str | None) -> float | None:
    """``auto`` (or no value) is None: each GPU at its own max rate; otherwise requests per second > 0."""
    if text is None or text.strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise ScenarioError(f"--rate: must be 'auto' or requests per second > 0, got {text[:40]!r}")
    return value


def check_options(slo_p99: float, rate: str | None, max_batch: int, arrivals: str, batch: int) -> float | None:
    """Validate the serving options (one-line errors, exit 2); returns the target rate (None: auto)."""
    if not (slo_p99 > 0 and math.isfinite(slo_p99)):
        raise ScenarioError(f"--slo-p99: must be seconds > 0, got {slo_p99:g}")
    if not 1 <= max_batch <= MAX_BATCH_LIMIT:
        raise ScenarioError(f"--max-batch: must be 1..{MAX_BATCH_LIMIT}, got {max_batch}")
    if arrivals not in SERVING_ARRIVALS:
        raise ScenarioError(f"--arrivals: must be {' or '.join(SERVING_ARRIVALS)}, got {arrivals[:40]!r}")
    if batch != 1:
        raise ScenarioError("--batch: with --slo-p99 each request is one image; the server's batching is --max-batch")
    return parse_rate(rate)


def serve_at_slo(
    rows: Sequence[RentalRow],
    work: Workload,
    catalog: Catalog,
    index: MeasuredIndex,
    *,
    slo_p99: float,
    rate: float | None,
    max_batch: int,
    arrivals: str,
    min_headroom_gb: float,
    providers: list[str] | None,
) -> list[ServingRow]:
    """Every recommended GPU simulated at the SLO, ranked by $ per 1000 images there."""
    batched = batch_estimates(
        rows, work, catalog, index, max_batch, min_headroom_gb=min_headroom_gb, providers=providers
    )
    config = QueueConfig(arrivals="constant" if arrivals == "constant" else "poisson", max_batch=max_batch)
    return serving_rows(rows, batched, config, slo_p99, rate)


def _g(x: float | None, digits: int = 3) -> str:
    """``digits`` significant digits, whole numbers written out (250, not 2.5e+02)."""
    if x is None:
        return "-"
    if math.isinf(x):
        return "inf"
    if abs(x) >= 10**digits:
        return f"{float(f'{x:.{digits}g}'):.0f}"
    return f"{x:.{digits}g}"


def _span(mid: float | None, band: tuple[float, float] | None, money: bool = False) -> str:
    """The figure to 3 significant digits and its interval to 2 (an interval's ends are not known closer)."""
    if mid is None:
        return "-"
    sign = "$" if money else ""
    text = f"{sign}{_g(mid)}"
    return f"{text} ({_g(band[0], 2)}-{_g(band[1], 2)})" if band else text


def table(rows: Sequence[ServingRow], rate: float | None) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the ranked table."""
    target = "auto" if rate is None else f"{rate:g}/s"
    headers = ["#", "gpu", "memory", "s/img b1", "$/h", "max req/s @SLO", "p99 s", "basis", "$/1k @SLO", "replicas"]
    headers += [f"$/1k @{target}"]
    body = []
    for i, r in enumerate(rows, start=1):
        e, price = r.rental.estimate, r.rental.price
        p99 = r.slo.point.p99_s if r.slo.point else None
        body.append(
            [
                str(i) if r.reason is None else "-",
                e.gpu_id,
                MEMORY_SHORT.get(e.memory, e.memory),
                f"{e.s_per_image:.3g} {SOURCE_SHORT[e.source]}",
                "-" if price is None else f"${price.usd_per_hour:.3f}" + (" STALE" if price.stale else ""),
                _span(r.max_rate_per_s, r.rate_interval),
                _g(p99),
                "-" if r.basis is None else r.basis.short(),
                _span(r.usd_per_1k_at_slo, r.usd_interval, money=True),
                "-" if r.replicas is None else str(r.replicas),
                "-" if r.fleet_usd_per_1k is None else f"${r.fleet_usd_per_1k:.3g}",
            ]
        )
    return headers, body


def notes(rows: Sequence[ServingRow], slo_p99: float, rate: float | None, max_batch: int) -> list[str]:
    """The legend, how each figure was computed, the batching fits and, per GPU that misses the SLO, why."""
    out = [
        f"serving queue: one FIFO queue, dynamic batching up to {max_batch}; service times from the isolated-run "
        "figure of each GPU (measured, or projected: the intervals are the search at the projection's low and high "
        "times, widened by the sampling error where simulated)",
        f"max req/s @SLO: the highest offered rate whose p99 latency is <= {slo_p99:g} s; p99 s: the p99 there; "
        "$/1k @SLO = $/h / (3600 x max rate) per 1000 images",
        "basis: how max req/s and p99 were computed. " + "; ".join(_legend(rows)),
        "replicas: how many, sharing one queue, keep p99 within the SLO at "
        + ("each GPU's own max rate (--rate auto)" if rate is None else f"{rate:g} requests/s")
        + f"; $/1k @rate: that fleet's cost per 1000 images at {'that rate' if rate is None else 'it'}",
    ]
    for r in rows:
        if r.basis is not None and not r.basis.exact:
            out.append(f"{r.gpu_id}: max rate and p99 {r.basis.text()}")
        target = r.at_target
        if rate is not None and target is not None and r.replicas and r.replicas > 1:
            out.append(
                f"{r.gpu_id}: {r.replicas} replicas at {rate:g}/s: p99 {_g(target.p99_s)} s, {target.basis.text()}"
            )
    fits = sorted({f"{r.gpu_id}: {r.service.fit_note}" for r in rows if max_batch > 1 and r.service.fit_note})
    out += fits
    out += [f"{r.gpu_id}: cannot meet p99 <= {slo_p99:g} s: {r.reason}" for r in rows if r.reason]
    return out


def _legend(rows: Sequence[ServingRow]) -> list[str]:
    """What each basis cell in the table means, for the cells that occur."""
    cells = {r.basis.short() for r in rows if r.basis is not None}
    out = [f"{m} = {name}, no sampling error" for m, name in EXACT_NAMES.items() if m in cells]
    if any(c.startswith("±") for c in cells):
        out.append(
            f"±x% = simulated, {SEEDS} seeds combined, runs made long enough for the p99's 95% sampling interval to "
            f"be within ±{100 * TARGET_REL_HALFWIDTH:g}% (x: the interval reached; '!': short of that, see below)"
        )
    if "sim" in cells:
        out.append("sim = simulated, deterministic (one run, no sampling error)")
    return out


def render(
    rows: Sequence[ServingRow],
    header: str,
    extra: Sequence[str],
    *,
    slo_p99: float,
    rate: float | None,
    max_batch: int,
    as_markdown: bool,
) -> str:
    """Terminal table or markdown."""
    headers, body = table(rows, rate)
    lines = [*notes(rows, slo_p99, rate, max_batch), *extra]
    if as_markdown:
        return f"{header}\n\n" + markdown(headers, body, lines)
    text = [header, format_table(headers, body, width=terminal_width()), ""]
    return "\n".join([*text, *wrap_notes(lines)]) + "\n"


def json_serving(r: ServingRow) -> dict[str, Any]:
    """The serving part of one recommend JSON row."""
    label: Label = "measured" if all(t.source == "measured" for t in r.service.times.values()) else "projected"
    point = r.at_target
    return {
        "slo_p99_s": r.slo.slo_p99_s,
        "meets_slo": r.reason is None,
        "reason": r.reason,
        "max_rate_at_slo": figure(r.max_rate_per_s, "requests/s", label, interval=_list(r.rate_interval)),
        "usd_per_1k_images_at_slo": figure(
            r.usd_per_1k_at_slo, "USD/1000 images", "computed", interval=_list(r.usd_interval)
        ),
        "saturation_rate": figure(r.slo.saturation_per_s, "requests/s", label),
        "target_rate": figure(r.target_rate_per_s, "requests/s", "computed"),
        "replicas": r.replicas,
        "p99_at_target": figure(point.p99_s if point else None, "s", label, interval=_p99_band(point)),
        "p50_at_target": figure(point.p50_s if point else None, "s", label),
        "fleet_usd_per_1k_images": figure(r.fleet_usd_per_1k, "USD/1000 images", "computed"),
        "service_s_per_call": {str(b): t.s_per_call for b, t in r.service.times.items()},
        "service_note": r.service.fit_note,
        "max_rate_basis": r.basis.text() if r.basis is not None else None,
        "p99_basis": point.basis.text() if point is not None else None,
    }


def _p99_band(point: LoadPoint | None) -> list[float] | None:
    """The p99's 95% sampling interval where simulated (exact: none)."""
    return None if point is None else _list(point.p99_interval)


def _list(band: tuple[float, float] | None) -> list[float] | None:
    if band is None or not all(math.isfinite(x) for x in band):
        return None
    return [float(band[0]), float(band[1])]


def json_rows(rows: Sequence[ServingRow], base: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ordinary recommend rows of these GPUs in serving rank order, each with its ``serving`` object."""
    by_gpu = {row["gpu"]["id"]: row for row in base}
    out = []
    for i, r in enumerate(rows, start=1):
        row = dict(by_gpu[r.gpu_id])
        row["rank"] = i
        row["price"] = choice_json(r.rental.price)
        row["serving"] = json_serving(r)
        out.append(row)
    return out


__all__ = ["check_options", "json_rows", "parse_rate", "render", "serve_at_slo"]
