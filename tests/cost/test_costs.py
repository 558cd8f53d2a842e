"""Dollar maths against hand-computed values."""

from __future__ import annotations

import pytest

from bench.cost.catalog import load_catalog
from bench.cost.costs import (
    Billing,
    Session,
    cost_rows,
    energy_cost_usd,
    energy_wh,
    images_per_usd,
    rental_table,
    session_cost,
    usd_per_1k_images,
    usd_per_image,
)

from . import make_record


def test_usd_per_image_hand_values():
    # 10 s at $0.36/h: 0.36 / 3600 * 10 = $0.001
    assert usd_per_image(10.0, 0.36) == pytest.approx(0.001)
    assert usd_per_1k_images(10.0, 0.36) == pytest.approx(1.0)
    assert images_per_usd(10.0, 0.36) == pytest.approx(1000.0)
    # the guide's RTX 4090: 5 s at $0.10/h -> 0.10 * 5 / 3600 = $0.000138889; 7200 images per dollar
    assert usd_per_image(5.0, 0.10) == pytest.approx(0.10 * 5 / 3600)
    assert images_per_usd(5.0, 0.10) == pytest.approx(7200.0)


def test_model_load_is_amortised_only_when_asked():
    # 60 s load over 100 images adds 0.6 s: (10 + 0.6) s * 0.36 $/h / 3600 = $0.00106
    assert usd_per_image(10.0, 0.36, load_s=60.0, images_amortised=100) == pytest.approx(0.00106)
    assert usd_per_image(10.0, 0.36, load_s=60.0) == pytest.approx(0.001)
    assert usd_per_1k_images(10.0, 0.36, load_s=60.0, images_amortised=1) == pytest.approx(70 * 0.36 / 3.6)
    with pytest.raises(ValueError, match="images_amortised must be >= 1"):
        usd_per_image(1.0, 1.0, load_s=1.0, images_amortised=0)
    with pytest.raises(ValueError, match="usd_per_hour must be >= 0"):
        usd_per_image(1.0, -1.0)


def test_rental_table_and_energy():
    assert rental_table(0.10) == pytest.approx({"hour": 0.10, "day": 2.40, "session_4h": 0.40})
    assert energy_wh(7200.0) == pytest.approx(2.0)
    assert energy_cost_usd(3.6e6, 0.20) == pytest.approx(0.20)  # 1 kWh at $0.20
    assert energy_cost_usd(1800.0, 0.30) == pytest.approx(0.00015)  # 0.5 Wh at $0.30/kWh
    assert images_per_usd(0.0, 1.0) == float("inf")


def test_cost_rows_price_results_on_their_gpu():
    cat = load_catalog(overrides={"rtx4090": 0.36})
    gpu = make_record(median_s=10.0, load_s=60.0, energy_j=1800.0)
    cpu = make_record(device="cpu", gpu_name=None, median_s=100.0)
    failed = make_record(status="oom")
    rows = cost_rows([gpu, cpu, failed], cat, images_amortised=100, usd_per_kwh=0.30)
    assert len(rows) == 2
    row = rows[0]
    assert row.gpu_id == "rtx4090" and row.price is not None and row.price.provider == "user"
    assert row.usd_per_1k_images == pytest.approx(1.0)
    assert row.usd_per_1k_images_amortised == pytest.approx(1.06)
    assert row.images_per_usd == pytest.approx(1000.0)
    assert row.energy_wh_per_image == pytest.approx(0.5)
    assert row.energy_usd_per_1k_images == pytest.approx(0.15)
    assert row.rental == pytest.approx({"hour": 0.36, "day": 8.64, "session_4h": 1.44})
    assert rows[1].price is None and rows[1].usd_per_image is None
    forced = cost_rows([cpu], cat, gpu_id="rtx4090")
    assert forced[0].usd_per_1k_images == pytest.approx(10.0)  # 100 s at $0.36/h


def test_session_cost_by_hand_with_billing_granularity():
    from bench.cost.costs import Billing, Session, image_cost, session_cost

    # 100 images of 10 s after 60 s of load and warmup: 1060 s busy at $0.36/h
    per_second = session_cost(10.0, 0.36, Session(images=100), overhead_s=60.0, billing=Billing())
    assert (per_second.busy_s, per_second.billed_s) == (1060.0, 1060.0)
    assert per_second.usd == pytest.approx(0.106) and per_second.usd_per_1k_images == pytest.approx(1.06)
    # billed per minute: 1060 s is 18 minutes, 1080 s -> $0.108, $1.08 per 1000 images
    per_minute = session_cost(10.0, 0.36, Session(images=100), overhead_s=60.0, billing=Billing(60.0, known=True))
    assert per_minute.billed_s == 1080.0 and per_minute.usd_per_1k_images == pytest.approx(1.08)
    # a one-hour minimum: the whole hour is paid, $0.36 for 100 images
    hourly = session_cost(10.0, 0.36, Session(images=100), overhead_s=60.0, billing=Billing(1.0, 3600.0, True))
    assert hourly.billed_s == 3600.0 and hourly.usd_per_1k_images == pytest.approx(3.6)
    # one rented hour: (3600 - 60) / 10 = 354 images for $0.36
    hour = session_cost(10.0, 0.36, Session(hours=1.0), overhead_s=60.0, billing=Billing())
    assert hour.images == 354 and hour.usd_per_1k_images == pytest.approx(1000 * 0.36 / 354)
    # too short to finish the load: no image, no $ per image, ranked last
    short = image_cost(10.0, 0.36, session=Session(hours=0.01), overhead_s=60.0)
    assert short.session is not None and short.session.images == 0 and short.session.usd_per_1k_images is None
    assert short.ranking_usd_per_1k_images == float("inf")
    # the steady-state figure stays beside the session's: 10 s at $0.36/h is $1.00 per 1000 images
    both = image_cost(10.0, 0.36, session=Session(images=100), overhead_s=60.0)
    assert both.steady_usd_per_1k_images == pytest.approx(1.0) and both.ranking_usd_per_1k_images == pytest.approx(1.06)


def test_cost_rows_charge_warmup_and_the_providers_billing():
    from bench.cost.costs import Billing, Session

    cat = load_catalog(overrides={"rtx4090": 0.36})
    record = make_record(median_s=10.0, load_s=50.0)
    record = record.model_copy(update={"timing": record.timing.model_copy(update={"warmup_call_s": [10.0]})})
    rows = cost_rows([record], cat, session=Session(images=100), billing_for=lambda p: Billing(60.0, known=True))
    assert rows[0].overhead_s == 60.0  # 50 s load + 10 s warmup call
    assert rows[0].usd_per_1k_images_amortised == pytest.approx(1.08)  # 1060 s billed as 1080 s


def test_session_and_billing_reject_impossible_values():
    from bench.cost.costs import Billing, Session

    with pytest.raises(ValueError, match="either a number of images or a number of hours"):
        Session(images=10, hours=1.0)
    with pytest.raises(ValueError, match="session images must be >= 1"):
        Session(images=0)
    with pytest.raises(ValueError, match="billing increment must be > 0 s"):
        Billing(0.0)


def test_a_session_at_batch_above_one_pays_whole_calls():
    """10 images at 4 images a call take 3 calls: the last, partial call costs a whole one (12 s, not 10 s)."""
    per_second = Billing(increment_s=1.0, known=True)
    ten = session_cost(1.0, 3600.0, Session(images=10), overhead_s=0.0, billing=per_second, images_per_call=4)
    assert (ten.busy_s, ten.billed_s, ten.usd) == (12.0, 12.0, 12.0)
    assert ten.usd_per_1k_images == pytest.approx(1200.0)
    eight = session_cost(1.0, 3600.0, Session(images=8), overhead_s=0.0, billing=per_second, images_per_call=4)
    assert eight.busy_s == 8.0  # whole calls only: nothing wasted
    hour = session_cost(1.0, 3600.0, Session(hours=1.0), overhead_s=2.0, billing=per_second, images_per_call=4)
    assert hour.images == 899 * 4 and hour.busy_s == 2.0 + 899 * 4.0  # the calls that finish within the hour
    with pytest.raises(ValueError, match="images_per_call"):
        session_cost(1.0, 1.0, Session(images=1), overhead_s=0.0, billing=per_second, images_per_call=0)
