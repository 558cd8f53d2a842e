"""Properties every measured load point must have, whatever the server and the load."""

from __future__ import annotations

from bench.results.serving import ServeRecord


def check_point(r: ServeRecord) -> None:
    assert r.status == "ok", r.reason
    assert r.completed + r.failed + r.timed_out == r.sent > 0
    assert sum(r.request_errors.values()) == r.failed + r.timed_out or len(r.request_errors) == 5, r.request_errors
    assert r.latency is not None and r.service is not None and r.queue_wait is not None
    lat = r.latency
    assert 0 < lat.p50_s <= lat.p90_s <= lat.p99_s <= lat.max_s
    assert len(r.latency_s) == len(r.service_s) == len(r.queue_wait_s) == r.completed
    # the client waits at least as long as the server queued and served its request (same machine clock)
    for latency, wait, service in zip(r.latency_s, r.queue_wait_s, r.service_s, strict=True):
        assert latency + 1e-3 >= wait + service, (latency, wait, service)
    assert abs(r.achieved_rate_per_s - r.completed / r.window_s) < 1e-9
    assert abs(r.images_per_s - r.completed * r.spec.images_per_prompt / r.window_s) < 1e-9
    assert r.device.peak_rss_mb is not None and r.device.peak_rss_mb > 50  # the server's own sampler
    assert r.mean_batch is not None and 1 <= r.mean_batch <= r.max_batch
