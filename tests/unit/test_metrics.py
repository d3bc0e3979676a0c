"""Prometheus metrics: the rendered text parses and carries every family a dashboard needs."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from app.core.metrics import Metrics

FAMILIES = {
    "cifix_deliveries": "counter",
    "cifix_loops_ended": "counter",
    "cifix_loops_opened": "counter",
    "cifix_fix_rate": "gauge",
    "cifix_time_to_green_seconds": "histogram",
    "cifix_cost_per_fixed_run_usd": "histogram",
    "cifix_loop_iterations": "histogram",
    "cifix_spend_usd": "gauge",
    "cifix_spend_today_usd": "gauge",
    "cifix_github_api_calls": "counter",
    "cifix_github_rate_limit_remaining": "gauge",
    "cifix_fixer_duration_seconds": "histogram",
    "cifix_store_bytes": "gauge",
    "cifix_store_wal_bytes": "gauge",
    "cifix_store_oldest_row_timestamp_seconds": "gauge",
}


def samples(metrics: Metrics) -> dict[str, list[Sample]]:
    families = text_string_to_metric_families(metrics.render().decode())
    return {family.name: family.samples for family in families}


def value(found: dict[str, list[Sample]], name: str, sample: str, **labels: str) -> float:
    for s in found[name]:
        if s.name == sample and s.labels == labels:
            return s.value
    raise AssertionError(f"no sample {sample}{labels} in {name}")


def test_render_parses_and_declares_every_family_with_its_type() -> None:
    families = text_string_to_metric_families(Metrics().render().decode())
    # prometheus_client adds a ``*_created`` gauge beside unlabelled counters and histograms.
    declared = {f.name: f.type for f in families if not f.name.endswith("_created")}
    assert declared == FAMILIES


def test_recorded_values_appear_in_the_rendered_text() -> None:
    metrics = Metrics()
    metrics.deliveries.labels("workflow_run", "queued").inc()
    metrics.loops_opened.inc()
    metrics.fixer_seconds.labels("command").observe(12)
    found = samples(metrics)
    assert value(found, "cifix_deliveries", "cifix_deliveries_total",
                 event="workflow_run", outcome="queued") == 1  # fmt: skip
    assert value(found, "cifix_loops_opened", "cifix_loops_opened_total") == 1
    assert value(found, "cifix_fixer_duration_seconds", "cifix_fixer_duration_seconds_count",
                 fixer="command") == 1  # fmt: skip


def test_github_responses_are_counted_by_status_class_with_the_rate_limit_left() -> None:
    metrics = Metrics()
    metrics.github_response("GET", 200, {"x-ratelimit-remaining": "4999"})
    metrics.github_response("GET", 204, {})
    metrics.github_response("POST", 502, {"x-ratelimit-remaining": "not-a-number"})
    found = samples(metrics)
    calls = "cifix_github_api_calls"
    assert value(found, calls, f"{calls}_total", method="GET", status="2xx") == 2
    assert value(found, calls, f"{calls}_total", method="POST", status="5xx") == 1
    assert value(found, "cifix_github_rate_limit_remaining",
                 "cifix_github_rate_limit_remaining") == 4999  # fmt: skip


def test_ended_loops_are_observed_in_this_process() -> None:
    metrics = Metrics()
    metrics.loop_ended("succeeded", iterations=2, cost_usd=0.3, seconds=600, green=True)
    metrics.loop_ended("flaky", iterations=0, cost_usd=0.0, seconds=120, green=True)
    metrics.loop_ended("escalated", iterations=3, cost_usd=1.0, seconds=900, green=False)
    metrics.loop_ended("exhausted", iterations=3, cost_usd=1.2, seconds=900, green=False)
    found = samples(metrics)
    assert value(found, "cifix_loops_ended", "cifix_loops_ended_total", state="escalated") == 1
    assert value(found, "cifix_loop_iterations", "cifix_loop_iterations_count") == 4
    assert value(found, "cifix_time_to_green_seconds", "cifix_time_to_green_seconds_count") == 2
    assert value(found, "cifix_cost_per_fixed_run_usd", "cifix_cost_per_fixed_run_usd_sum") == (0.3)


def test_fix_rate_and_spend_are_the_stores_counting_succeeded_and_flaky_as_fixed() -> None:
    metrics = Metrics()
    counts = {"succeeded": 3, "flaky": 1, "escalated": 2, "exhausted": 2, "cancelled": 5}
    metrics.from_store(counts, spend_usd=12.5, spend_today_usd=0.75)
    found = samples(metrics)
    assert value(found, "cifix_fix_rate", "cifix_fix_rate") == 0.5  # cancelled not counted
    assert value(found, "cifix_spend_usd", "cifix_spend_usd") == 12.5
    assert value(found, "cifix_spend_today_usd", "cifix_spend_today_usd") == 0.75


def test_two_metrics_objects_do_not_share_values() -> None:
    first, second = Metrics(), Metrics()
    first.loops_opened.inc()
    assert value(samples(second), "cifix_loops_opened", "cifix_loops_opened_total") == 0


def test_store_gauges_show_sizes_and_the_oldest_row_of_each_kind() -> None:
    metrics = Metrics()
    metrics.observe_store(
        {"database_bytes": 4096, "wal_bytes": 512, "oldest": {"delivery": 1.5e9, "loop": None}}
    )
    found = samples(metrics)
    assert value(found, "cifix_store_bytes", "cifix_store_bytes") == 4096
    assert value(found, "cifix_store_wal_bytes", "cifix_store_wal_bytes") == 512
    oldest = "cifix_store_oldest_row_timestamp_seconds"
    assert value(found, oldest, oldest, kind="delivery") == 1.5e9
    assert [s for s in found[oldest] if s.labels.get("kind") == "loop"] == []
