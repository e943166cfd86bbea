"""Read a service's Prometheus `/metrics` page into pandas (module 06).

A BentoML service counts its requests and times them in histograms, and shows the
running totals as text at `/metrics`. A monitor scrapes that page now and then; rates
and latency percentiles come from the *differences* between two scrapes.
`parse_metrics` turns one page into a table with `prometheus_client`'s own parser, and
`histogram_quantile` estimates a percentile from histogram buckets as Prometheus does.
"""

from __future__ import annotations

import math

import httpx
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, timeout: float = 5.0) -> str:
    """GET a `/metrics` URL and return the text (raises httpx.HTTPStatusError if not 2xx)."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(
            f"url must be an http(s) URL such as service.url + '/metrics', got {url!r}."
        )
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()
    return response.text


def parse_metrics(text: str) -> pd.DataFrame:
    """One row per sample: `family`, `type`, `name`, `value`, and one column per label.

    Uses `prometheus_client.parser.text_string_to_metric_families`; a label a sample
    does not have is NaN in its column.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be the str of a /metrics page, got {type(text).__name__}.")
    rows = [
        {"family": family.name, "type": family.type, "name": s.name, "value": s.value, **s.labels}
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]
    return pd.DataFrame(rows, columns=None if rows else ["family", "type", "name", "value"])


def histogram_quantile(q: float, upper_bounds: object, cumulative_counts: object) -> float:
    """The q-quantile of a Prometheus histogram, interpolated as PromQL's histogram_quantile.

    `upper_bounds` are the buckets' `le` values (the last one +Inf) and
    `cumulative_counts` their counts. The answer lies in the first bucket whose count
    reaches q × total, linearly between that bucket's bounds; NaN without observations.
    """
    if not (isinstance(q, int | float) and 0 <= q <= 1):
        raise ValueError(f"q must be a number between 0 and 1, got {q!r}.")
    le = np.asarray(upper_bounds, dtype=float)
    counts = np.asarray(cumulative_counts, dtype=float)
    order = np.argsort(le)
    le, counts = le[order], counts[order]
    if le.size < 2 or le.shape != counts.shape or not math.isinf(le[-1]):
        raise ValueError(
            "upper_bounds and cumulative_counts must be equally long, with at least two "
            f"buckets and a last bucket le=+Inf; got le={le.tolist()}."
        )
    total = counts[-1]
    if total == 0:
        return math.nan
    rank = q * total
    i = int(np.searchsorted(counts, rank, side="left"))
    if i == le.size - 1:
        return float(le[-2])  # in the +Inf bucket: the highest finite bound
    lower = 0.0 if i == 0 else le[i - 1]
    below = 0.0 if i == 0 else counts[i - 1]
    in_bucket = counts[i] - below
    if in_bucket == 0:  # q = 0 and an empty first bucket
        return float(lower)
    return float(lower + (le[i] - lower) * (rank - below) / in_bucket)
