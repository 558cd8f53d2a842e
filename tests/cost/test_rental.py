"""Recommendation rows: session overhead from records, ranking by the session, stale rows last, ties by interval."""

from __future__ import annotations

import pytest

from bench.cost.catalog import load_catalog
from bench.cost.costs import Billing, Session
from bench.cost.prices.policy import PriceChoice
from bench.cost.projection import Estimate, MeasuredIndex, measured_index
from bench.cost.rental import rental_rows
from bench.spec import Workload

from . import make_record

CAT = load_catalog()
GPUS = {"rtx4090": "NVIDIA GeForce RTX 4090", "h100-sxm": "NVIDIA H100 80GB HBM3", "l4": "NVIDIA L4"}


def estimate(gpu_id: str, s: float, interval: tuple[float, float] | None = None) -> Estimate:
    return Estimate(
        gpu_id=gpu_id, gpu_name=gpu_id, run_key="k", model="kandinsky-2.2", task="text2img", resolution="512x512",
        steps=50, batch_size=1, dtype="fp16", memory="none", s_per_image=s, vram_needed_gb=10.0, fits=True,
        source="projected", calibration="test", usd_per_hour=None, price_provider=None, price_date=None,
        price_source=None, usd_per_1k_images=None, vram_gpu_gb=24.0, s_per_image_interval=interval,
    )  # fmt: skip


def price(
    gpu_id: str, usd: float, *, stale: bool = False, billing: Billing | None = None, kind: str = "on-demand"
) -> PriceChoice:
    return PriceChoice(
        gpu_id=gpu_id, usd_per_hour=usd, provider="p", providers=("p",), kind=kind, stat="median",
        offers=3, date="2026-11-30", age_days=200 if stale else 1, stale=stale, origin="live", source="s",
        billing=billing or Billing(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def index() -> MeasuredIndex:
    records = []
    for gpu_name in GPUS.values():
        record = make_record(gpu_name=gpu_name, load_s=50.0)
        timing = record.timing.model_copy(update={"warmup_call_s": [10.0]})  # type: ignore[union-attr]
        records.append(record.model_copy(update={"timing": timing}))
    return MeasuredIndex(measured_index(records, CAT))


WORK = Workload.from_spec(make_record().spec)


def test_a_session_ranks_by_its_full_cost_with_measured_load_and_warmup(index):
    # steady: 4090 10 s x $0.36 = $1.00/1k; H100 5 s x $0.684 = $0.95/1k. A 10-image session adds 60 s to each
    # and the H100's provider bills a 1-hour minimum: $0.684 for 10 images = $68.4/1k against the 4090's $1.60/1k.
    ests = [estimate("rtx4090", 10.0), estimate("h100-sxm", 5.0)]
    prices = {
        "rtx4090": price("rtx4090", 0.36),
        "h100-sxm": price("h100-sxm", 0.684, billing=Billing(1.0, 3600.0, True)),
    }
    steady = rental_rows(ests, WORK, prices, index=index)
    assert [r.estimate.gpu_id for r in steady] == ["h100-sxm", "rtx4090"]
    rows = rental_rows(ests, WORK, prices, session=Session(images=10), index=index)
    assert [r.estimate.gpu_id for r in rows] == ["rtx4090", "h100-sxm"]
    rtx = rows[0]
    assert (rtx.overhead.source, rtx.overhead.load_s, rtx.overhead.warmup_s) == ("measured", 50.0, 10.0)
    assert rtx.cost is not None and rtx.cost.session is not None
    assert rtx.cost.session.usd_per_1k_images == pytest.approx(1000 * (60 + 10 * 10) * 0.36 / 3600 / 10)
    assert rows[1].cost.session.usd_per_1k_images == pytest.approx(68.4)  # type: ignore[union-attr]


def test_stale_prices_rank_after_fresh_ones_and_spot_stays_beside(index):
    ests = [estimate("rtx4090", 10.0), estimate("l4", 10.0)]
    prices = {"rtx4090": price("rtx4090", 0.50), "l4": price("l4", 0.10, stale=True)}
    spot = {"rtx4090": price("rtx4090", 0.18, kind="spot"), "l4": price("l4", 0.05, kind="user")}
    rows = rental_rows(ests, WORK, prices, spot, index=index)
    assert [r.estimate.gpu_id for r in rows] == ["rtx4090", "l4"]  # the cheaper stale price comes second
    assert rows[0].cost.steady_usd_per_1k_images == pytest.approx(10 * 0.50 / 3.6)  # type: ignore[union-attr]
    assert rows[0].spot_cost.steady_usd_per_1k_images == pytest.approx(10 * 0.18 / 3.6)  # type: ignore[union-attr]
    assert rows[1].spot_cost is None  # a --price override is not a spot price


def test_overlapping_cost_intervals_are_tied_with_the_cheapest(index):
    ests = [
        estimate("rtx4090", 10.0, (8.0, 14.0)),
        estimate("h100-sxm", 6.0, (5.0, 7.0)),
        estimate("l4", 30.0, (28.0, 33.0)),
    ]
    prices = {"rtx4090": price("rtx4090", 0.36), "h100-sxm": price("h100-sxm", 0.72), "l4": price("l4", 0.36)}
    rows = {r.estimate.gpu_id: r for r in rental_rows(ests, WORK, prices, index=index)}
    # $/1k: 4090 1.00 (0.80-1.40), H100 1.20 (1.00-1.40), L4 3.00 (2.80-3.30)
    assert rows["rtx4090"].usd_interval == pytest.approx((0.8, 1.4))
    assert not rows["rtx4090"].tied and rows["h100-sxm"].tied and not rows["l4"].tied
