"""Properties every measured load point must have, whatever the server and the load."""

from __future__ import annotations

from bench.results.serving import MIN_P99_REQUESTS, ServeRecord


def check_point(r: ServeRecord) -> None:
    assert r.status == "ok", r.reason
    assert r.completed + r.failed + r.timed_out == r.sent > 0
    assert sum(r.request_errors.values()) == r.failed + r.timed_out or len(r.request_errors) == 5, r.request_errors
    assert r.latency is not None and r.service is not None and r.queue_wait is not None
    lat = r.latency
    assert 0 < lat.p50_s <= lat.p90_s <= lat.max_s
    assert (lat.p99_s is None) == (lat.n < MIN_P99_REQUESTS)  # a p99 only from 100 completed requests
    assert lat.p99_s is None or lat.p90_s <= lat.p99_s <= lat.max_s
    assert len(r.latency_s) == len(r.service_s) == len(r.queue_wait_s) == r.completed
    assert len(r.service_batch) == len(r.service_s) and all(1 <= b <= r.max_batch for b in r.service_batch)
    # the client waits at least as long as the server queued and served its request (same machine clock)
    for latency, wait, service in zip(r.latency_s, r.queue_wait_s, r.service_s, strict=True):
        assert latency + 1e-3 >= wait + service, (latency, wait, service)
    assert abs(r.achieved_rate_per_s - r.completed / r.window_s) < 1e-9
    assert abs(r.images_per_s - r.completed * r.spec.images_per_prompt / r.window_s) < 1e-9
    assert r.device.peak_rss_mb is not None and r.device.peak_rss_mb > 50  # the server's own sampler
    assert r.mean_batch is not None and 1 <= r.mean_batch <= r.max_batch
    # an open-loop rate is never offered above the capacity measured before it, and a capped one says what was asked
    if r.offered_rate_per_s is not None and r.capacity_per_s is not None:
        assert r.offered_rate_per_s <= r.capacity_per_s
    assert r.asked_rate_per_s is None or r.asked_rate_per_s > (r.offered_rate_per_s or 0)
    if r.offered_rate_per_s is not None:  # achieved and offered more than 10% apart: the record says why
        apart = abs(r.achieved_rate_per_s - r.offered_rate_per_s) > 0.1 * r.offered_rate_per_s
        assert apart == (r.rate_note is not None), (r.achieved_rate_per_s, r.offered_rate_per_s, r.rate_note)
