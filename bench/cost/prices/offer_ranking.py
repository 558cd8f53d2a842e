"""Live offers ranked host by host by $ per 1000 images for one workload (``kbench offers``).

A marketplace sells hosts, not GPU models: two RTX 4090s differ in price, in the PCIe link the card sits on, in
the disk and network a fresh rental loads the model over, in reliability and in rental terms. Each live offer of
the price book's cache is therefore costed on its own:

* **seconds per image**: the GPU's estimate (measured where a record ran the workload on it, else projected)
  under each memory option that fits, with the offload term recomputed for the host's PCIe link (its generation,
  capped at the card's, and its width; x16 and the catalog's generation where the host does not say) by the
  projection's own transfer model (:func:`~bench.cost.roofline.offload_s_by_stage`); with ``memory_auto`` the
  fastest option on *that* host is used, so a card on an x1 riser may prefer another option or lose its rank.
  The offload term of a measured figure is moved by the same difference, assuming it was measured on an x16
  link of the catalog's generation.
* **one-off seconds of a session**: the model's weights downloaded at the host's listed download speed (where
  listed: a fresh rental has no copy), read from its disk at its listed speed (else as
  :func:`~bench.cost.rental.session_overhead` assumes), plus one warmup call at the host's speed; a measured
  load time replaces the disk read where a record has one.
* **price**: the offer's $ per GPU-hour (a multi-GPU host priced per GPU, the renter fee included), billed as
  the provider bills with the host's minimum rental; every $ comes from
  :func:`~bench.cost.costs.image_cost`, the one cost function.

Rows rank by the session's $ per 1000 images when a session is given, else by the steady state; offers older than
the policy's maximum age rank after fresh ones. Flagged offers (an implausible price) are never ranked.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.cost.costs import Billing, ImageCost, Session, image_cost
from bench.cost.counting.profile import profile_workload
from bench.cost.prices.book import PriceBook
from bench.cost.prices.cache import Offer, parse_fetch_time
from bench.cost.prices.policy import matches_provider
from bench.cost.prices.providers import billing_for
from bench.cost.projection import Estimate, MeasuredIndex, estimate_workload, measured_index
from bench.cost.rental import WARMUP_CALLS, Overhead, session_overhead
from bench.cost.roofline import DEFAULT_PCIE_GEN, offload_s_by_stage, shipped_constants
from bench.results import RunRecord
from bench.spec import VRAM_MEMORY_OPTIONS, Workload

FULL_WIDTH = 16


@dataclass(frozen=True)
class OfferRow:
    """One live offer costed for the workload."""

    offer: Offer
    estimate: Estimate  # the GPU's estimate under the memory option chosen for this host
    s_per_image: float  # on this host (its PCIe link in the offload term)
    link: str  # "Gen3 x4", or "Gen4 x16 (catalog)" where the host does not say
    overhead: Overhead
    billing: Billing
    cost: ImageCost
    age_hours: float
    stale: bool
    notes: tuple[str, ...] = ()

    @property
    def ranking_usd(self) -> float:
        return self.cost.ranking_usd_per_1k_images


@dataclass(frozen=True)
class OfferRanking:
    """Every offer that could run the workload, cheapest first, and what was left out and why."""

    workload: Workload
    rows: tuple[OfferRow, ...]
    left_out: dict[str, int]
    notes: tuple[str, ...]


def _link(offer: Offer, card_gen: int | None) -> tuple[int, int, str]:
    """(generation, width, label) of the link the offer's GPU sits on."""
    card = card_gen or DEFAULT_PCIE_GEN
    host = offer.host
    if host is None or (host.pcie_gen is None and host.pcie_width is None):
        return card, FULL_WIDTH, f"Gen{card} x{FULL_WIDTH} (catalog)"
    gen = min(host.pcie_gen or card, card)  # a slot faster than the card runs at the card's generation
    width = min(host.pcie_width or FULL_WIDTH, FULL_WIDTH)
    return gen, width, f"Gen{gen} x{width}"


def _offload_per_image(work: Workload, estimate: Estimate, book: PriceBook, gen: int, width: int) -> float:
    """Seconds per image the host's link adds to (or saves from) the estimate's offload term."""
    if estimate.memory not in ("model_cpu_offload", "sequential_cpu_offload"):
        return 0.0
    profile = profile_workload(work.with_(memory=estimate.memory))
    gpu = book.priced.get(estimate.gpu_id)
    constants = shipped_constants()
    catalog_s = sum(offload_s_by_stage(profile, gpu, constants).values())
    host_gpu = gpu.model_copy(update={"pcie_gen": gen})
    host_constants = replace(constants, link_eff=constants.link_eff * width / FULL_WIDTH)
    host_s = sum(offload_s_by_stage(profile, host_gpu, host_constants).values())
    return (host_s - catalog_s) / profile.images


def _overhead(offer: Offer, estimate: Estimate, s_host: float, work: Workload, index: MeasuredIndex) -> Overhead:
    """Download, disk read and one warmup call on this host (see the module docstring)."""
    base = session_overhead(estimate, work, index)
    host = offer.host
    weights = sum(profile_workload(work.with_(memory="none")).weights_by_component.values())
    load, parts = base.load_s, [base.basis]
    if base.source == "projected" and host is not None and host.disk_mb_s:
        load = weights / (host.disk_mb_s * 1e6)
        parts = [f"{weights / 1e9:.1f} GB of weights read at the host's {host.disk_mb_s:g} MB/s disk"]
    if host is not None and host.net_down_mbit_s:
        load += weights * 8 / (host.net_down_mbit_s * 1e6)
        parts.append(f"downloaded at its {host.net_down_mbit_s:g} Mbit/s")
    warmup = base.warmup_s if base.source == "measured" else WARMUP_CALLS * s_host * estimate.batch_size
    return Overhead(load, warmup, base.source, "; ".join(parts))


def _billing(offer: Offer) -> Billing:
    """The provider's billing, with the host's minimum rental where the offer states one."""
    base = billing_for(offer.provider)
    host = offer.host
    if host is None or host.min_rental_hours is None:
        return base
    return Billing(base.increment_s, host.min_rental_hours * 3600.0, base.known, base.source)


def _estimates(work: Workload, book: PriceBook, index: MeasuredIndex, gpu_ids: list[str], auto: bool) -> dict:
    """Per GPU, its estimate under every memory option tried (only ``work.memory`` without ``auto``)."""
    options = VRAM_MEMORY_OPTIONS if auto else (work.memory,)
    out: dict[str, list[Estimate]] = {g: [] for g in gpu_ids}
    for memory in options:
        for e in estimate_workload(work.with_(memory=memory), book.priced, index, gpu_ids):
            out[e.gpu_id].append(e)
    return out


def _wanted(offer: Offer, book: PriceBook, providers: Sequence[str], min_reliability: float | None) -> str | None:
    """Why an offer is left out, or None to cost it."""
    if offer.flagged:
        return "flagged (implausible price)"
    if not matches_provider(offer.provider, providers):
        return ""  # another provider: not counted
    if offer.tier not in book.policy.kinds:
        return f"{offer.tier} (not in the tier)"
    if offer.gpu_id not in book.listed.gpus:
        return "GPU not in the catalog"
    if min_reliability is not None:
        reliability = offer.host.reliability if offer.host else None
        if reliability is None:
            return "reliability not listed"
        if reliability < min_reliability:
            return f"reliability below {min_reliability:g}"
    return None


def rank_offers(
    work: Workload,
    book: PriceBook,
    records: Sequence[RunRecord] = (),
    *,
    providers: Sequence[str] = (),
    min_reliability: float | None = None,
    session: Session | None = None,
    memory_auto: bool = True,
    now: dt.datetime | None = None,
) -> OfferRanking:
    """Every live offer of ``book``'s cache that can run ``work``, costed host by host, cheapest first."""
    now = now or dt.datetime.now(dt.UTC)
    offers = book.cache.offers if book.cache is not None else ()
    left: Counter[str] = Counter()
    wanted: list[Offer] = []
    for offer in offers:
        reason = _wanted(offer, book, providers, min_reliability)
        if reason is None:
            wanted.append(offer)
        elif reason:
            left[reason] += 1
    index = MeasuredIndex(measured_index(records, book.priced))
    per_gpu = _estimates(work, book, index, sorted({o.gpu_id for o in wanted}), memory_auto)
    rows: list[OfferRow] = []
    for offer in wanted:
        gen, width, label = _link(offer, book.priced.get(offer.gpu_id).pcie_gen)
        fitting = [e for e in per_gpu[offer.gpu_id] if e.headroom_gb >= 0]
        if not fitting:
            left["does not fit in the GPU's memory"] += 1
            continue
        timed = [(e.s_per_image + _offload_per_image(work, e, book, gen, width), e) for e in fitting]
        s_host, estimate = min(timed, key=lambda t: t[0])
        overhead = _overhead(offer, estimate, s_host, work, index)
        billing = _billing(offer)
        cost = image_cost(
            s_host,
            offer.usd_per_gpu_hour,
            session=session,
            overhead_s=overhead.total_s,
            billing=billing,
            images_per_call=work.images_per_call,
        )
        age_h = max((now - parse_fetch_time(offer.fetched_at)).total_seconds() / 3600.0, 0.0)
        notes = []
        host = offer.host
        max_h = host.max_rental_hours if host is not None else None
        if cost.session is not None and max_h and cost.session.billed_s > max_h * 3600.0:
            notes.append(f"the session is longer than the host's {max_h:g} h maximum rental")
        if offer.gpu_count > 1:
            notes.append(f"{offer.gpu_count} GPUs: priced per GPU, one pipeline per GPU")
        stale = age_h / 24.0 > book.policy.max_age_days
        rows.append(OfferRow(offer, estimate, s_host, label, overhead, billing, cost, age_h, stale, tuple(notes)))
    rows.sort(key=lambda r: (r.stale, r.ranking_usd, r.s_per_image, r.offer.usd_per_gpu_hour))
    note = [book.note()]
    projected = sorted({r.estimate.calibration for r in rows if r.estimate.source == "projected"})
    note += [f"projected: {p}" for p in projected]
    return OfferRanking(work, tuple(rows), dict(left), tuple(note))


def age_label(hours: float) -> str:
    """``40m``, ``5h``, ``3d``: how old a price is, in one short word."""
    if not math.isfinite(hours):
        return "?"
    if hours < 1:
        return f"{hours * 60:.0f}m"
    return f"{hours:.0f}h" if hours < 48 else f"{hours / 24:.0f}d"


__all__ = ["OfferRanking", "OfferRow", "age_label", "rank_offers"]
