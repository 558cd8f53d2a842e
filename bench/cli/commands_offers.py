"""``kbench offers``: the live offers of the price cache, host by host, ranked by $ per 1000 images for a workload.

``recommend`` answers "which GPU model"; a marketplace rents hosts, whose price, PCIe link, disk, network,
reliability and rental terms differ offer by offer. This command costs each offer on its own
(:mod:`bench.cost.prices.offer_ranking`) and lists the cheapest with the facts a renter picks a host by.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from bench.cli import pricing
from bench.cli.json_doc import Label, billing_json, document, figure, session_json
from bench.cli.recommend_view import MEMORY_SHORT, SOURCE_SHORT
from bench.cli.tables import Footnotes, format_table, markdown, terminal_width, wrap_notes
from bench.cost.prices.offer_ranking import OfferRanking, OfferRow, age_label
from bench.errors import KbenchError

DEFAULT_TOP = 20


def _money(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"${value:.{digits}f}"


def _cells(i: int, r: OfferRow, session: bool, notes: Footnotes) -> list[str]:
    o, h, e = r.offer, r.offer.host, r.estimate
    cells = [
        str(i),
        e.gpu_id + (f" x{o.gpu_count}" if o.gpu_count > 1 else ""),
        o.provider,
        h.id if h else o.instance,
        (h.country if h and h.country else o.region) or "-",
        f"{h.reliability:.4g}" if h and h.reliability is not None else "-",
        r.link.replace(" (catalog)", "*"),
        MEMORY_SHORT.get(e.memory, e.memory),
        f"{r.s_per_image:.2f} {SOURCE_SHORT[e.source]}",
        _money(o.usd_per_gpu_hour),
        _money(r.cost.steady_usd_per_1k_images),
    ]
    if session:
        cells.append(_money(r.cost.session.usd_per_1k_images if r.cost.session else None))
    cells.append(age_label(r.age_hours) + (" STALE" if r.stale else ""))
    detail = [f"{o.provider} {o.instance}: {o.gpu_name}"]
    if h is not None and h.raw_price is not None:
        fee = f" + {h.renter_fee:.2%} renter fee" if h.renter_fee else ""
        detail.append(f"listed {h.raw_price:g} {h.price_unit}{fee}")
    if h is not None and h.pcie_gb_s is not None:
        detail.append(f"host link measured {h.pcie_gb_s:g} GB/s by the marketplace")
    detail += [o.assumption] if o.assumption else []
    detail.append(f"one-off {r.overhead.total_s:.0f} s ({r.overhead.basis})")
    detail.append(f"billed {r.billing.label}")
    detail += list(r.notes)
    cells.append(notes.ref("; ".join(detail)))
    return cells


def _text(ranking: OfferRanking, rows: list[OfferRow], title: str, notes: list[str], *, session: bool,
          as_markdown: bool) -> str:  # fmt: skip
    refs = Footnotes()
    headers = ["#", "gpu", "provider", "host", "cc", "rel", "PCIe", "memory", "s/img", "$/GPU-h", "$/1k img"]
    headers += ["session $/1k"] if session else []
    headers += ["age", "ref"]
    body = [_cells(i, r, session, refs) for i, r in enumerate(rows, start=1)]
    unlisted = ["PCIe*: the host does not list its link; the catalog's generation at x16 is used"]
    all_notes = [*refs.lines(), *(unlisted if any(r.link.endswith("(catalog)") for r in rows) else []), *notes]
    if as_markdown:
        return f"{title}\n\n" + markdown(headers, body, all_notes)
    lines = [title, format_table(headers, body, width=terminal_width(), shrink=[1, 3]), *wrap_notes(all_notes)]
    return "\n".join(lines) + "\n"


def _json_row(rank: int, r: OfferRow) -> dict[str, Any]:
    o, h, e = r.offer, r.offer.host, r.estimate
    label: Label = "measured" if e.source == "measured" else "projected"
    return {
        "rank": rank,
        "provider": o.provider,
        "instance": o.instance,
        "host_id": h.id if h else None,
        "country": (h.country if h else None) or (o.region or None),
        "reliability": h.reliability if h else None,
        "gpu_id": e.gpu_id,
        "gpu_name": o.gpu_name,
        "gpu_count": o.gpu_count,
        "tier": o.tier,
        "memory": e.memory,
        "pcie_link": r.link,
        "pcie_gb_s": h.pcie_gb_s if h else None,
        "disk_mb_s": h.disk_mb_s if h else None,
        "net_down_mbit_s": h.net_down_mbit_s if h else None,
        "max_rental_hours": h.max_rental_hours if h else None,
        "raw_price": None if h is None or h.raw_price is None else {"value": h.raw_price, "unit": h.price_unit},
        "renter_fee": h.renter_fee if h else 0.0,
        "usd_per_gpu_hour": figure(o.usd_per_gpu_hour, "USD/GPU-hour", "live"),
        "s_per_image": figure(r.s_per_image, "s", label),
        "usd_per_1k_images": figure(r.cost.steady_usd_per_1k_images, "USD/1000 images", "computed"),
        "session": session_json(r.cost.session, label, r.billing),
        "billing": billing_json(r.billing),
        "fetched_at": o.fetched_at,
        "age_hours": round(r.age_hours, 3),
        "stale": r.stale,
        "notes": list(r.notes),
    }


def offers_command(
    model: str = pricing.MODEL,
    task: str = pricing.TASK,
    resolution: str = pricing.RESOLUTION,
    steps: int | None = pricing.STEPS,
    batch: int = pricing.BATCH,
    dtype: str = pricing.DTYPE,
    memory: str = typer.Option("auto", "--memory", help="auto (the fastest option that fits each host) or one."),
    provider: list[str] = typer.Option([], "--provider", help="Only offers of this provider: clore, vastai, ..."),
    min_reliability: float | None = typer.Option(
        None, "--min-reliability", help="Only hosts listing at least this reliability (0-1)."
    ),
    top: int = typer.Option(DEFAULT_TOP, "--top", min=0, help="Show only the N cheapest (0: all)."),
    session_images: int | None = pricing.SESSION_IMAGES,
    session_hours: float | None = pricing.SESSION_HOURS,
    results: list[Path] = typer.Option([], "--results", help="Result files that measure or calibrate."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Your own GPU YAML, merged over the bundled one."),
    tier: str | None = pricing.TIER,
    max_price_age: float = pricing.MAX_PRICE_AGE,
    json_out: bool = pricing.JSON,
    as_markdown: bool = pricing.MARKDOWN,
) -> None:
    """Rank the live offers of the price cache host by host by $ per 1000 images for a workload."""
    from bench.cli.commands_cost import _workload
    from bench.cost.prices.book import load_price_book
    from bench.cost.prices.cache import price_cache_path
    from bench.cost.prices.offer_ranking import rank_offers
    from bench.results import read_results

    if min_reliability is not None and not 0.0 <= min_reliability <= 1.0:
        raise KbenchError(f"--min-reliability: must be a fraction from 0 to 1 like 0.95, got {min_reliability:g}")
    session = pricing.make_session(session_images, session_hours)
    book = load_price_book(catalog, [], pricing.make_policy(tier, None, max_price_age, []))
    if book.cache is None:
        raise KbenchError(f"no price cache at {price_cache_path()}; run kbench prices refresh --provider clore first")
    present = sorted({o.provider for o in book.cache.offers})
    unknown = [p for p in provider if not any(p.lower() in q.lower() or q.lower() in p.lower() for q in present)]
    if unknown:
        raise KbenchError(
            f"--provider: no live offers of {unknown[0]!r} in the price cache; it holds {', '.join(present) or 'none'}"
            " (kbench prices refresh --provider NAME)"
        )
    auto = memory == "auto"
    work = _workload(model, task, resolution, steps, batch, dtype, "none" if auto else memory)
    records = read_results(results) if results else []
    ranking = rank_offers(
        work, book, records, providers=provider, min_reliability=min_reliability, session=session, memory_auto=auto
    )
    rows = list(ranking.rows)[: top or None]
    label = pricing.session_label(session)
    left = ", ".join(f"{n} {why}" for why, n in sorted(ranking.left_out.items(), key=lambda kv: -kv[1]))
    notes = [*(f"left out: {left}",) * bool(left), *ranking.notes]
    if json_out:
        query = {
            "model": work.model, "task": work.task, "resolution": work.resolution, "steps": work.steps,
            "batch": work.images_per_call, "dtype": work.dtype, "memory": "auto" if auto else work.memory,
            "providers": provider, "min_reliability": min_reliability, "session": label or None, "top": top,
            "price_policy": book.policy.describe(), "offers": len(ranking.rows), "left_out": ranking.left_out,
        }  # fmt: skip
        typer.echo(document("offers", query, [_json_row(i, r) for i, r in enumerate(rows, start=1)], notes))
        return
    if not ranking.rows:
        raise KbenchError(
            f"no live offer can run {work.model} {work.resolution} {work.steps} steps"
            + (f" from {', '.join(provider)}" if provider else "")
            + (f" ({left})" if left else "")
        )
    shown = f"the {len(rows)} cheapest of {len(ranking.rows)}" if len(rows) < len(ranking.rows) else "all"
    title = (
        f"{work.model} {work.task} {work.resolution}, {work.steps} steps, batch {work.images_per_call}, {work.dtype}, "
        f"memory {'auto' if auto else work.memory}" + (f", session of {label}" if label else "")
        + f": {shown} live offers by $ per 1000 images"
    )  # fmt: skip
    typer.echo(_text(ranking, rows, title, notes, session=session is not None, as_markdown=as_markdown), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``offers`` to ``app``."""
    app.command("offers")(offers_command)


__all__ = ["offers_command", "register"]
