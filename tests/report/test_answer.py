"""The report opens with the answer to "which GPU", and it is ``kbench recommend``'s answer, at the same prices."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.cost.prices.book import load_price_book
from bench.cost.prices.policy import PricePolicy
from bench.cost.report_numbers import ANSWER_ROWS, report_numbers
from bench.report.bundle import build_report
from tests.report.conftest import CATALOG, all_records, write_results

OVERRIDE = "rtx4090=0.35"


@pytest.fixture(scope="module")
def answered():
    records = all_records()
    book = load_price_book(None, [OVERRIDE])
    numbers = report_numbers(records, book)
    return records, book, numbers


def test_the_report_answer_is_recommends_ranking(answered, capsys, tmp_path):
    """Same GPUs, order, memory option and $ per 1000 images as ``kbench recommend --memory auto --json``."""
    records, _, numbers = answered
    results = write_results(tmp_path / "r.jsonl", records)
    (k3,) = [a for a in numbers.answers if a.workload.model == "kandinsky-3" and a.workload.width == 1024]
    capsys.readouterr()
    code = main([
        "recommend", "--model", "kandinsky-3", "--resolution", "1024x1024", "--steps", "50", "--dtype", "fp16",
        "--memory", "auto", "--json", "--price", OVERRIDE, "--top", str(ANSWER_ROWS), "--results", str(results),
    ])  # fmt: skip
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    ours = [(r.estimate.gpu_id, r.estimate.memory, r.cost.steady_usd_per_1k_images) for r in k3.rows[:ANSWER_ROWS]]
    theirs = [(r["gpu"]["id"], r["memory"], r["usd_per_1k_images"]["value"]) for r in rows]
    assert [o[:2] for o in ours] == [t[:2] for t in theirs]
    assert [o[2] for o in ours] == pytest.approx([t[2] for t in theirs], rel=1e-9)


def test_the_answer_opens_the_report_and_names_price_and_basis(answered):
    records, book, numbers = answered
    bundle = build_report(records, book.priced, numbers)
    html, md = bundle.html, bundle.markdown
    assert html.index('id="answer"') < html.index('id="environment"') < html.index('id="summary"')
    assert md.index("### Which GPU to rent") < md.index("runs ok")
    first = bundle.data.answers[0]
    assert first.rows and all(r.basis in ("measured", "projected") for r in first.rows)
    assert all("/h " in r.price and r.price_detail for r in first.rows)
    assert f"{first.rows[0].gpu}" in html


def test_stale_prices_rank_last_in_the_answer():
    """Under a policy where every catalog price is stale, the one fresh price (an override) ranks first."""
    records, gpus = all_records(), ["rtx3060", "rtx3090", "a100-80gb-sxm"]
    policy = PricePolicy(max_age_days=1)
    plain = report_numbers(records, load_price_book(None, [], policy), gpu_ids=gpus)
    (k22,) = [a for a in plain.answers if a.workload.model == "kandinsky-2.2" and a.workload.width == 512]
    assert k22.rows and all(r.price is not None and r.price.stale for r in k22.rows)
    dear = next(g for g in reversed(gpus) if g != k22.rows[0].estimate.gpu_id)
    fresh = report_numbers(records, load_price_book(None, [f"{dear}=50"], policy), gpu_ids=gpus)
    (k22,) = [a for a in fresh.answers if a.workload.model == "kandinsky-2.2" and a.workload.width == 512]
    assert k22.rows[0].estimate.gpu_id == dear  # a fresh $50/h beats every stale price, as in recommend
    assert all(r.price is not None and r.price.stale for r in k22.rows[1:])


def test_no_gpu_is_said_not_hidden():
    records = all_records()
    book = load_price_book(None, [], PricePolicy(providers=["no-such-provider"]))  # nothing priced
    numbers = report_numbers(records, book, gpu_ids=["rtx3060"])
    data = build_report(records, CATALOG, numbers).data
    empty = [a for a in data.answers if not a.rows]
    assert empty and all(a.reason and "no GPU meets" in a.reason for a in empty)
