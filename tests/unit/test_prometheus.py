"""Parsing /metrics with prometheus_client's parser, scraping it, and histogram quantiles."""

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from mlkit._runtime.net import free_port
from mlkit.prometheus import histogram_quantile, parse_metrics, scrape

PAGE = """\
# HELP requests_total Requests.
# TYPE requests_total counter
requests_total{endpoint="/predict",code="200"} 7.0
requests_total{endpoint="/predict",code="500"} 1.0
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 2.0
latency_seconds_bucket{le="0.5"} 6.0
latency_seconds_bucket{le="+Inf"} 8.0
latency_seconds_count 8.0
latency_seconds_sum 2.5
"""


def test_parse_metrics_gives_one_row_per_sample():
    frame = parse_metrics(PAGE)
    assert len(frame) == 7
    ok = frame.query("name == 'requests_total' and code == '200'")
    assert ok["value"].tolist() == [7.0] and ok["type"].tolist() == ["counter"]
    buckets = frame[frame.name == "latency_seconds_bucket"]
    assert buckets["le"].tolist() == ["0.1", "0.5", "+Inf"]
    assert frame.loc[frame.name == "latency_seconds_sum", "value"].item() == 2.5
    assert parse_metrics("").empty


def test_histogram_quantile_by_hand():
    le, counts = [0.1, 0.5, float("inf")], [2, 6, 8]
    # median: rank 4 lies in (0.1, 0.5], 2 of its 4 observations in: 0.1 + 0.4 * 2/4
    assert histogram_quantile(0.5, le, counts) == pytest.approx(0.3)
    assert histogram_quantile(0.25, le, counts) == pytest.approx(0.1)  # rank 2: end of bucket 1
    assert histogram_quantile(0.1, le, counts) == pytest.approx(0.04)  # 0 + 0.1 * 0.8/2
    assert histogram_quantile(0.99, le, counts) == 0.5  # in +Inf: the highest finite bound
    assert math.isnan(histogram_quantile(0.5, le, [0, 0, 0]))
    with pytest.raises(ValueError, match="\\+Inf"):
        histogram_quantile(0.5, [0.1, 0.5], [1, 2])


def test_scrape_a_live_exporter_on_localhost():
    registry = CollectorRegistry()
    Counter("hits", "Hits.", registry=registry).inc(3)
    Histogram("wait_seconds", "Wait.", buckets=[0.1, 1.0], registry=registry).observe(0.5)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        frame = parse_metrics(scrape(f"http://127.0.0.1:{port}/metrics"))
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert frame.loc[frame.name == "hits_total", "value"].item() == 3.0
    buckets = frame[frame.name == "wait_seconds_bucket"]
    assert histogram_quantile(0.5, buckets["le"].astype(float), buckets["value"]) == pytest.approx(
        0.55
    )


def test_scrape_refuses_a_non_url():
    with pytest.raises(ValueError, match="http"):
        scrape("localhost:8000/metrics")
