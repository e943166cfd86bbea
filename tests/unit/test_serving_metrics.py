"""Servers started by serve_in_background at the same time keep their own /metrics."""

from __future__ import annotations

import httpx

from mlkit.serving import serve_in_background

SERVICE = """
import bentoml


@bentoml.service
class Counter:
    @bentoml.api
    def ping(self) -> str:
        return "pong"
"""


def ping_count(url: str) -> float:
    lines = httpx.get(f"{url}/metrics").text.splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("bentoml_service_request_total{") and 'endpoint="/ping"' in line
    )


def test_a_second_server_neither_wipes_nor_joins_the_first_ones_metrics(tmp_path):
    service_file = tmp_path / "service.py"
    service_file.write_text(SERVICE)
    with serve_in_background(service_file, log_dir=tmp_path) as first:
        for _ in range(3):
            httpx.post(f"{first.url}/ping").raise_for_status()
        assert ping_count(first.url) == 3
        with serve_in_background(service_file, log_dir=tmp_path) as second:
            httpx.post(f"{second.url}/ping").raise_for_status()
            assert ping_count(first.url) == 3
            assert ping_count(second.url) == 1
