"""Reading `/metrics` pages in Python (module 06): kept under this name for notebooks that
import it; the code lives in `mlkit.observability.metrics`."""

from mlkit.observability.metrics import histogram_quantile, parse_metrics, scrape

__all__ = ["histogram_quantile", "parse_metrics", "scrape"]
