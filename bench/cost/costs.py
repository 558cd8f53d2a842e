"""Dollar maths: pure functions of seconds per image and a price, plus rows for ``kbench cost``.

A rental is billed by wall time, so the cost of an image is the seconds it occupies the GPU times the
hourly price. Model load is paid once per session; spread over ``images_amortised`` images it adds
``load_s / images_amortised`` seconds to each.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.cost.catalog import Catalog, GpuSpec, Price
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


def images_per_hour(s_per_image: float) -> float:
    """Images one GPU-hour produces at ``s_per_image``."""
    _check_non_negative(s_per_image=s_per_image)
    return float("inf") if s_per_image == 0 else S_PER_HOUR / s_per_image


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
    usd_per_1k_images_amortised: float | None
    images_amortised: int
    energy_wh_per_image: float | None
    energy_usd_per_1k_images: float | None
    rental: dict[str, float] | None


def cost_rows(
    records: list[RunRecord],
    catalog: Catalog,
    *,
    gpu_id: str | None = None,
    providers: list[str] | None = None,
    images_amortised: int = 1000,
    usd_per_kwh: float | None = None,
) -> list[CostRow]:
    """One :class:`CostRow` per ``ok`` record, priced on the GPU it ran on (or ``gpu_id`` when given).

    A record whose GPU is not in the catalog (or that ran on CPU) gets no price unless ``gpu_id`` says
    which card's price to apply; its seconds and energy are still shown.
    """
    rows: list[CostRow] = []
    forced: GpuSpec | None = catalog.get(gpu_id) if gpu_id else None
    for record in records:
        if not record.ok or record.summary is None:
            continue
        env_name = str(record.env.get("gpu_name") or "")
        gpu = forced or (catalog.match_nvml_name(env_name) if env_name else None)
        price = gpu.cheapest_price(providers) if gpu else None
        s = record.summary.median_s_per_image
        load_s = record.timing.load_s if record.timing else None
        energy_j = record.energy.energy_j_per_image
        usd = usd_per_image(s, price.usd_per_hour) if price else None
        rows.append(
            CostRow(
                run_key=record.run_key,
                gpu_id=gpu.id if gpu else None,
                gpu_name=gpu.name if gpu else (env_name or record.spec.device),
                s_per_image=s,
                load_s=load_s,
                price=price,
                usd_per_image=usd,
                usd_per_1k_images=None if usd is None else 1000.0 * usd,
                images_per_usd=None if not usd else 1.0 / usd,
                usd_per_1k_images_amortised=(
                    usd_per_1k_images(s, price.usd_per_hour, load_s=load_s or 0.0, images_amortised=images_amortised)
                    if price
                    else None
                ),
                images_amortised=images_amortised,
                energy_wh_per_image=None if energy_j is None else energy_wh(energy_j),
                energy_usd_per_1k_images=(
                    1000.0 * energy_cost_usd(energy_j, usd_per_kwh)
                    if energy_j is not None and usd_per_kwh is not None
                    else None
                ),
                rental=rental_table(price.usd_per_hour) if price else None,
            )
        )
    return rows


__all__ = [
    "CostRow",
    "cost_rows",
    "energy_cost_usd",
    "energy_wh",
    "gpu_seconds_per_image",
    "images_per_hour",
    "images_per_usd",
    "rental_table",
    "usd_per_1k_images",
    "usd_per_image",
]
