"""Dollar maths: pure functions of seconds per image and a price, plus rows for ``kbench cost``.

A rental is billed by wall time, so the cost of an image is the seconds it occupies the GPU times the
hourly price. Model load is paid once per session; spread over ``images_amortised`` images it adds
``load_s / images_amortised`` seconds to each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from bench.cost.catalog import Catalog, GpuSpec, Price
from bench.cost.record_gpu import record_gpu
from bench.results import RunRecord

S_PER_HOUR = 3600.0
J_PER_KWH = 3.6e6
J_PER_WH = 3600.0
SESSION_HOURS = 4.0  # the deployment guide's "4-hour session" row
HOURS_PER_DAY = 24.0


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def gpu_seconds_per_image(s_per_image: float, *, load_s: float = 0.0, images_amortised: int | None = None) -> float:
    """Seconds of rented time per image, with the model load spread over ``images_amortised`` images.

    Without ``images_amortised`` the load is left out (a long-running server pays it once).
    """
    _check_non_negative(s_per_image=s_per_image, load_s=load_s)
    if images_amortised is None:
        return s_per_image
    if images_amortised < 1:
        raise ValueError(f"images_amortised must be >= 1, got {images_amortised}")
    return s_per_image + load_s / images_amortised


def usd_per_image(
    s_per_image: float, usd_per_hour: float, *, load_s: float = 0.0, images_amortised: int | None = None
) -> float:
    """USD per image at ``usd_per_hour``: rented seconds per image times the price per second."""
    _check_non_negative(usd_per_hour=usd_per_hour)
    seconds = gpu_seconds_per_image(s_per_image, load_s=load_s, images_amortised=images_amortised)
    return seconds * usd_per_hour / S_PER_HOUR


def usd_per_1k_images(
    s_per_image: float, usd_per_hour: float, *, load_s: float = 0.0, images_amortised: int | None = None
) -> float:
    """USD per 1000 images (the unit rankings use)."""
    return 1000.0 * usd_per_image(s_per_image, usd_per_hour, load_s=load_s, images_amortised=images_amortised)


def images_per_usd(
    s_per_image: float, usd_per_hour: float, *, load_s: float = 0.0, images_amortised: int | None = None
) -> float:
    """Images one dollar buys; infinite when an image costs nothing (free GPU or zero time)."""
    usd = usd_per_image(s_per_image, usd_per_hour, load_s=load_s, images_amortised=images_amortised)
    return float("inf") if usd == 0 else 1.0 / usd


def rental_table(usd_per_hour: float) -> dict[str, float]:
    """The guide's table: USD for one hour, one day, and one 4-hour session."""
    _check_non_negative(usd_per_hour=usd_per_hour)
    return {"hour": usd_per_hour, "day": usd_per_hour * HOURS_PER_DAY, "session_4h": usd_per_hour * SESSION_HOURS}


def energy_wh(energy_j: float) -> float:
    """Joules to watt-hours."""
    _check_non_negative(energy_j=energy_j)
    return energy_j / J_PER_WH


def energy_cost_usd(energy_j: float, usd_per_kwh: float) -> float:
    """Electricity cost in USD of ``energy_j`` joules at ``usd_per_kwh``."""
    _check_non_negative(energy_j=energy_j, usd_per_kwh=usd_per_kwh)
    return energy_j / J_PER_KWH * usd_per_kwh


@dataclass(frozen=True)
class Billing:
    """How a provider rounds rented time: in ``increment_s`` steps, never less than ``minimum_s``.

    ``known`` is False where no source says; kbench then bills by the second with no minimum.
    """

    increment_s: float = 1.0
    minimum_s: float = 0.0
    known: bool = False
    source: str | None = None

    def __post_init__(self) -> None:
        if not self.increment_s > 0:
            raise ValueError(f"billing increment must be > 0 s, got {self.increment_s}")
        _check_non_negative(minimum_s=self.minimum_s)

    def billed_s(self, busy_s: float) -> float:
        """Seconds billed for ``busy_s`` seconds of rental: whole increments, at least the minimum."""
        _check_non_negative(busy_s=busy_s)
        steps = math.ceil(busy_s / self.increment_s - 1e-9)  # tolerance: 120.0000001 s is still 2 minutes
        return max(self.minimum_s, steps * self.increment_s)

    @property
    def label(self) -> str:
        step = {1.0: "per second", 60.0: "per minute", 3600.0: "per hour"}.get(
            self.increment_s, f"per {self.increment_s:g} s"
        )
        minimum = f", minimum {self.minimum_s:g} s" if self.minimum_s else ""
        return f"{step}{minimum}" if self.known else "per second assumed (billing not stated)"


@dataclass(frozen=True)
class Session:
    """One rental session: ``images`` to make, or ``hours`` rented (exactly one of them)."""

    images: int | None = None
    hours: float | None = None

    def __post_init__(self) -> None:
        if (self.images is None) == (self.hours is None):
            raise ValueError("a session is either a number of images or a number of hours")
        if self.images is not None and self.images < 1:
            raise ValueError(f"session images must be >= 1, got {self.images}")
        if self.hours is not None and not self.hours > 0:
            raise ValueError(f"session hours must be > 0, got {self.hours}")


@dataclass(frozen=True)
class SessionCost:
    """What one session costs: images made, seconds busy and billed, dollars, and dollars per 1000 images."""

    images: int
    overhead_s: float  # model load plus warmup/compile calls, paid once per session
    busy_s: float
    billed_s: float
    usd: float
    usd_per_1k_images: float | None  # None when the session is too short to finish one image


@dataclass(frozen=True)
class ImageCost:
    """The steady-state $ per 1000 images (a warm server) and, for a session, the full cost beside it."""

    usd_per_hour: float
    steady_usd_per_1k_images: float
    session: SessionCost | None = None

    @property
    def ranking_usd_per_1k_images(self) -> float:
        """The figure to rank by: the session's when one was asked for (inf if no image fits), else steady."""
        if self.session is None:
            return self.steady_usd_per_1k_images
        return self.session.usd_per_1k_images if self.session.usd_per_1k_images is not None else math.inf


def session_cost(
    s_per_image: float,
    usd_per_hour: float,
    session: Session,
    *,
    overhead_s: float,
    billing: Billing,
    images_per_call: int = 1,
) -> SessionCost:
    """The cost of one session, model load and warmup included, rounded as the provider bills.

    Images come in whole calls of ``images_per_call`` (batch × images per prompt), each taking
    ``images_per_call × s_per_image``: a last, partial call costs a whole one. With ``session.images``: busy time
    is ``overhead + calls × call time`` for the calls that make them, billed as ``billing`` rounds it. With
    ``session.hours``: the hours are billed, and the images are those of the calls that finish after the
    overhead (the images made may then exceed what one image at a time would give by less than one call).
    """
    _check_non_negative(s_per_image=s_per_image, usd_per_hour=usd_per_hour, overhead_s=overhead_s)
    if images_per_call < 1:
        raise ValueError(f"images_per_call must be >= 1, got {images_per_call}")
    call_s = images_per_call * s_per_image
    if session.images is not None:
        images = session.images
        busy = overhead_s + math.ceil(images / images_per_call) * call_s
        billed = billing.billed_s(busy)
    else:
        if not s_per_image > 0:
            raise ValueError(f"s_per_image must be > 0 for a session of hours, got {s_per_image}")
        billed = billing.billed_s(float(session.hours or 0.0) * S_PER_HOUR)
        calls = max(0, math.floor((billed - overhead_s) / call_s + 1e-9))
        images = calls * images_per_call
        busy = overhead_s + calls * call_s
    usd = billed * usd_per_hour / S_PER_HOUR
    return SessionCost(
        images=images,
        overhead_s=overhead_s,
        busy_s=busy,
        billed_s=billed,
        usd=usd,
        usd_per_1k_images=1000.0 * usd / images if images else None,
    )


def image_cost(
    s_per_image: float,
    usd_per_hour: float,
    *,
    session: Session | None = None,
    overhead_s: float = 0.0,
    billing: Billing | None = None,
    images_per_call: int = 1,
) -> ImageCost:
    """The one cost function: steady-state $ per 1000 images and, given a session, its full cost.

    Every command that shows a $ figure (cost, recommend, compare-models, the report) gets it from here.
    """
    steady = usd_per_1k_images(s_per_image, usd_per_hour)
    full = (
        session_cost(
            s_per_image,
            usd_per_hour,
            session,
            overhead_s=overhead_s,
            billing=billing or Billing(),
            images_per_call=images_per_call,
        )
        if session is not None
        else None
    )
    return ImageCost(usd_per_hour=usd_per_hour, steady_usd_per_1k_images=steady, session=full)


@dataclass(frozen=True)
class CostRow:
    """Costs of one measured result at one price."""

    run_key: str
    gpu_id: str | None
    gpu_name: str
    s_per_image: float
    load_s: float | None
    price: Price | None
    usd_per_image: float | None
    usd_per_1k_images: float | None
    images_per_usd: float | None
    usd_per_1k_images_amortised: float | None  # the session's $ per 1000 images (load, warmup, billing)
    images_amortised: int  # images in the session
    energy_wh_per_image: float | None
    energy_usd_per_1k_images: float | None
    rental: dict[str, float] | None
    overhead_s: float = 0.0  # model load + warmup calls of this record, paid once per session
    session: SessionCost | None = None
    billing: Billing | None = None


def record_overhead_s(record: RunRecord) -> float:
    """Seconds a session pays once before steady state: the record's model load plus its warmup calls."""
    if record.timing is None:
        return 0.0
    return record.timing.load_s + sum(record.timing.warmup_call_s)


def cost_rows(
    records: list[RunRecord],
    catalog: Catalog,
    *,
    gpu_id: str | None = None,
    providers: list[str] | None = None,
    images_amortised: int = 1000,
    usd_per_kwh: float | None = None,
    session: Session | None = None,
    billing_for: Callable[[Price], Billing] | None = None,
) -> list[CostRow]:
    """One :class:`CostRow` per ``ok`` record, priced on the GPU it ran on (or ``gpu_id`` when given).

    A record whose GPU is not in the catalog (or that ran on CPU) gets no price unless ``gpu_id`` says
    which card's price to apply; its seconds and energy are still shown. The session (default
    ``images_amortised`` images) pays the record's own load and warmup time, billed as ``billing_for``
    says the price's provider rounds time.
    """
    rows: list[CostRow] = []
    forced: GpuSpec | None = catalog.get(gpu_id) if gpu_id else None
    session = session or Session(images=images_amortised)
    for record in records:
        if not record.ok or record.summary is None:
            continue
        gpu = forced or record_gpu(record, catalog)
        price = gpu.cheapest_price(providers) if gpu else None
        s = record.summary.median_s_per_image
        energy_j = record.energy.energy_j_per_image
        overhead = record_overhead_s(record)
        billing = (billing_for(price) if billing_for else Billing()) if price else None
        cost = (
            image_cost(
                s,
                price.usd_per_hour,
                session=session,
                overhead_s=overhead,
                billing=billing,
                images_per_call=record.spec.images_per_call,
            )
            if price
            else None
        )
        usd = cost.steady_usd_per_1k_images / 1000.0 if cost else None
        rows.append(
            CostRow(
                run_key=record.run_key,
                gpu_id=gpu.id if gpu else None,
                gpu_name=gpu.name if gpu else (str(record.env.get("gpu_name") or "") or record.spec.device),
                s_per_image=s,
                load_s=record.timing.load_s if record.timing else None,
                price=price,
                usd_per_image=usd,
                usd_per_1k_images=None if cost is None else cost.steady_usd_per_1k_images,
                images_per_usd=None if not usd else 1.0 / usd,
                usd_per_1k_images_amortised=cost.session.usd_per_1k_images if cost and cost.session else None,
                images_amortised=cost.session.images if cost and cost.session else (session.images or 0),
                energy_wh_per_image=None if energy_j is None else energy_wh(energy_j),
                energy_usd_per_1k_images=(
                    1000.0 * energy_cost_usd(energy_j, usd_per_kwh)
                    if energy_j is not None and usd_per_kwh is not None
                    else None
                ),
                rental=rental_table(price.usd_per_hour) if price else None,
                overhead_s=overhead,
                session=cost.session if cost else None,
                billing=billing,
            )
        )
    return rows


__all__ = [
    "Billing",
    "CostRow",
    "ImageCost",
    "Session",
    "SessionCost",
    "cost_rows",
    "energy_cost_usd",
    "energy_wh",
    "gpu_seconds_per_image",
    "image_cost",
    "images_per_usd",
    "record_overhead_s",
    "rental_table",
    "session_cost",
    "usd_per_1k_images",
    "usd_per_image",
]
