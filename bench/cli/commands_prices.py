"""``kbench prices refresh`` and ``kbench prices show``: the local cache of live GPU offers.

``refresh`` asks gpuhunt for every provider's offers, and the CLORE.AI and Vast.ai marketplaces for their hosts
(or only those of ``--provider``), maps them onto the catalog and stores them with their fetch time. A provider
that fails is one warning; the refresh keeps what the others gave. With no offers at all it exits 2 and the
previous cache stays as it was. Each marketplace is asked at most once a minute; a refresh sooner keeps its
cached offers. Vast.ai is read by kbench's own source rather than gpuhunt's, which drops the hosts' facts.
"""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path

import typer

from bench.cli import pricing
from bench.cli._common import one_line
from bench.cli.json_doc import choice_json, document, figure
from bench.cli.tables import Footnotes, format_table, markdown, terminal_width, wrap_notes
from bench.cost.prices.book import load_price_book
from bench.cost.prices.cache import PriceCache, PriceCacheError
from bench.cost.prices.gpuhunt_source import FetchResult
from bench.errors import KbenchError


def _warn(message: str) -> None:
    typer.echo(f"kbench: warning: {one_line(message)}", err=True)


CLORE_NAMES = ("clore", "clore.ai")


def _fetch(provider: list[str], previous: PriceCache | None, now: dt.datetime) -> FetchResult:
    """gpuhunt's providers and the two marketplaces, each asked only when wanted, merged into one result."""
    from bench.cost.catalog import load_catalog
    from bench.cost.prices.gpuhunt_source import fetch_offers, known_providers
    from bench.cost.prices.vastai_source import NAMES as VAST_NAMES
    from bench.cost.prices.vastai_source import PROVIDER as VAST

    wanted = {p.lower() for p in provider}
    clore = not provider or bool(wanted & set(CLORE_NAMES))
    vast = not provider or bool(wanted & set(VAST_NAMES))
    others = [p for p in provider if p.lower() not in (*CLORE_NAMES, *VAST_NAMES)]
    if not provider:
        offline, online = known_providers()
        others = [p for p in offline + online if p != VAST]  # Vast.ai is read by its own source below
    parts: list[FetchResult] = []
    if others:
        parts.append(fetch_offers(others, now=now))
    if clore:
        from bench.cost.prices.clore_source import fetch_clore_offers

        parts.append(fetch_clore_offers(load_catalog(), now=now, previous=previous))
    if vast:
        from bench.cost.prices.vastai_source import fetch_vastai_offers

        parts.append(fetch_vastai_offers(now=now, previous=previous))
    return FetchResult(
        offers={k: v for r in parts for k, v in r.offers.items()},
        warnings={k: v for r in parts for k, v in r.warnings.items()},
        unmapped={k: v for r in parts for k, v in r.unmapped.items()},
        source=" + ".join(r.source for r in parts),
        kept={k: v for r in parts for k, v in r.kept.items()},
        skipped={k: v for r in parts for k, v in r.skipped.items()},
    )


def refresh_command(
    provider: list[str] = typer.Option(
        [],
        "--provider",
        help="Only this provider: clore, vastai, or a gpuhunt one such as runpod, aws (repeatable; default: all).",
    ),
) -> None:
    """Fetch current offers (gpuhunt's providers, the CLORE.AI and Vast.ai marketplaces) into the price cache."""
    from bench.cost.prices.cache import load_price_cache, merge_refresh, price_cache_path, save_price_cache

    path = price_cache_path()
    if path is None:
        raise KbenchError("KBENCH_CACHE_DIR=off: there is no price cache to refresh; unset it or give a directory")
    try:
        previous = load_price_cache(path)
    except PriceCacheError as exc:
        _warn(f"{exc}; it will be replaced")
        previous = None
    now = dt.datetime.now(dt.UTC)
    result = _fetch(provider, previous, now)
    for name, warning in sorted(result.warnings.items()):
        _warn(f"prices refresh: {name}: {warning}")
    for name, why in sorted(result.kept.items()):
        typer.echo(f"{name}: {why}")
    total = sum(len(v) for v in result.offers.values())
    if total == 0 and result.kept and not result.warnings:
        return  # nothing was asked on purpose: the cache stays as it is
    if total == 0:
        kept = f"the previous cache at {path} is unchanged" if previous else f"nothing was written to {path}"
        raise KbenchError(
            f"prices refresh: no GPU offers from any provider ({len(result.warnings)} warnings above); {kept}"
        )
    cache = merge_refresh(
        previous,
        result.offers,
        result.warnings,
        refreshed_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        source=result.source,
        unmapped=result.unmapped,
    )
    save_price_cache(cache, path)
    got = ", ".join(f"{p} {len(v)}" for p, v in sorted(result.offers.items()))
    older = len(cache.offers) - total
    typer.echo(f"{total} offers for {len({o.gpu_id for v in result.offers.values() for o in v})} catalog GPUs: {got}")
    flagged = [o for v in result.offers.values() for o in v if o.flagged]
    if flagged:
        typer.echo(f"{len(flagged)} offers flagged, priced nothing: " + "; ".join(
            f"{o.provider} {o.instance}: {o.host.flags[0]}" for o in flagged[:3] if o.host
        ) + (" ..." if len(flagged) > 3 else ""))  # fmt: skip
    if older:
        typer.echo(f"kept {older} older offers of providers this refresh did not reach (judged by their own age)")
    if result.skipped:
        typer.echo("left out: " + ", ".join(f"{k} ({n})" for k, n in sorted(result.skipped.items())))
    if result.unmapped:
        names = ", ".join(f"{k} ({n})" for k, n in sorted(result.unmapped.items(), key=lambda kv: -kv[1])[:8])
        more = f" and {len(result.unmapped) - 8} more (kbench prices show --json)" if len(result.unmapped) > 8 else ""
        typer.echo(f"not in the catalog, left out: {names}{more}")
    typer.echo(f"written to {path}")


def _age_days(fetched_at: str, today: dt.date) -> int:
    return (today - dt.datetime.fromisoformat(fetched_at.replace("Z", "+00:00")).date()).days


def show_command(
    gpu: str | None = typer.Option(None, "--gpu", help="List this catalog GPU's offers (default: one line per GPU)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Your own GPU YAML, merged over the bundled catalog."),
    price: list[str] = typer.Option([], "--price", help="Override a price: GPU_ID=USD_PER_HOUR (repeatable)."),
    provider: list[str] = typer.Option([], "--provider", help="Only prices from providers containing this."),
    tier: str | None = pricing.TIER,
    price_stat: str | None = pricing.PRICE_STAT,
    max_price_age: float = pricing.MAX_PRICE_AGE,
    json_out: bool = pricing.JSON,
    as_markdown: bool = pricing.MARKDOWN,
) -> None:
    """Show the price cache: the price each GPU gets under the policy, or one GPU's offers with --gpu."""
    from bench.cost.prices.cache import price_cache_path

    prices = load_price_book(catalog, price, pricing.make_policy(tier, price_stat, max_price_age, provider))
    if prices.cache is None:  # offline or never refreshed: the catalog's prices, as every other command uses
        _warn(f"no price cache at {price_cache_path()}: showing the catalog's prices (kbench prices refresh)")
    if gpu is not None:
        prices.listed.get(gpu)  # an unknown id is one line listing the known ones
    today = prices.policy.today
    offers = [o for o in (prices.cache.offers if prices.cache else []) if gpu is None or o.gpu_id == gpu]
    chosen = [c for gid, c in prices.choices.items() if c is not None and (gpu is None or gid == gpu)]
    if json_out:
        rows = [
            {
                "provider": o.provider,
                "instance": o.instance,
                "region": o.region,
                "gpu_id": o.gpu_id,
                "gpu_name": o.gpu_name,
                "gpu_count": o.gpu_count,
                "spot": o.spot,
                "tier": o.tier,
                "usd_per_hour": figure(o.usd_per_hour, "USD/instance-hour", "live"),
                "usd_per_gpu_hour": figure(o.usd_per_gpu_hour, "USD/GPU-hour", "live"),
                "fetched_at": o.fetched_at,
                "age_days": _age_days(o.fetched_at, today),
                "stale": _age_days(o.fetched_at, today) > prices.policy.max_age_days,
                "assumption": o.assumption,
            }
            for o in offers
        ]
        query = {
            "gpu": gpu,
            "price_policy": prices.policy.describe(),
            "cache_refreshed_at": prices.cache.refreshed_at if prices.cache else None,
        }
        typer.echo(document("prices show", query, rows, [prices.note()], chosen=[choice_json(c) for c in chosen]))
        return
    notes = Footnotes()
    if gpu is None:
        headers = ["gpu", "offers", "cheapest", "median", "policy $/h", "price", "ref"]  # live, per GPU, not spot
        rows_text = []
        for gid in prices.listed.gpus:
            mine = [o.usd_per_gpu_hour for o in offers if o.gpu_id == gid and not o.spot]
            spot = sum(1 for o in offers if o.gpu_id == gid and o.spot)
            c = prices.choices.get(gid)
            rows_text.append(
                [
                    gid,
                    f"{len(mine)}" + (f" +{spot} spot" if spot else ""),
                    f"${min(mine):.3f}" if mine else "-",
                    f"${statistics.median(mine):.3f}" if mine else "-",
                    f"${c.usd_per_hour:.3f}" if c else "-",
                    f"{c.provider} {c.tier_label}{' STALE' if c.stale else ''}" if c else "no price under the policy",
                    notes.ref(f"{c.date}; billed {c.billing.label}; {c.source}") if c else "-",
                ]
            )
        shrink, optional = [5], [2, 3]  # cheapest and median of the live offers: the policy's $/h stays
    else:
        headers = ["provider", "instance", "region", "GPUs", "tier", "$/h", "$/GPU-h", "fetched", "note"]
        rows_text = []
        for o in offers:
            stale = " STALE" if _age_days(o.fetched_at, today) > prices.policy.max_age_days else ""
            rows_text.append(
                [
                    o.provider,
                    o.instance,
                    o.region,
                    str(o.gpu_count),
                    o.tier,
                    f"${o.usd_per_hour:.3f}",
                    f"${o.usd_per_gpu_hour:.3f}",
                    o.fetched_at[:10] + stale,
                    notes.ref(o.assumption),
                ]
            )
        shrink, optional = [1, 2], [2, 8]
    cache = prices.cache
    lines = (
        [
            f"price cache: {price_cache_path()} (refreshed {cache.refreshed_at}, {cache.source})",
            *(f"  {p}: {s.warning}" for p, s in cache.providers.items() if s.warning and s.offers == 0),
        ]
        if cache is not None
        else [f"no price cache at {price_cache_path()}: the catalog's prices (kbench prices refresh fetches offers)"]
    )
    if as_markdown:
        typer.echo("\n".join(lines) + "\n\n" + markdown(headers, rows_text, [*notes.lines(), prices.note()]), nl=False)
        return
    lines = [
        *wrap_notes(lines),
        format_table(headers, rows_text, width=terminal_width(), shrink=shrink, optional=optional),
    ]
    lines += wrap_notes([*notes.lines(), prices.note()])
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    """Add ``prices refresh`` and ``prices show`` to ``app``."""
    prices_app = typer.Typer(
        help="Live GPU prices (gpuhunt, the CLORE.AI and Vast.ai marketplaces): refresh the price cache, show it.",
        no_args_is_help=True,
    )
    prices_app.command("refresh")(refresh_command)
    prices_app.command("show")(show_command)
    app.add_typer(prices_app, name="prices")


__all__ = ["refresh_command", "register", "show_command"]
