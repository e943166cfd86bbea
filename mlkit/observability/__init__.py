"""Observability for a served model (module 06): Prometheus and Alertmanager for real.

- `metrics`: read a `/metrics` page into pandas, `histogram_quantile` in Python;
- `alert_rules`: alert rules with a hold, evaluated in Python over a table (the idea);
- `tools`: Debian's `promtool` and `amtool`: check configs and rules, unit-test rules;
- `servers`: Prometheus and Alertmanager started on 127.0.0.1, queried with PromQL;
- `exporter`: a `/metrics` page for what a monitor computes (a drift score as a gauge);
- `receiver`: a webhook receiver that records Alertmanager's notifications;
- `dashboard`: the Grafana dashboard of the churn service and a check of its JSON.
"""

from mlkit.observability.alert_rules import AlertRule, evaluate_rules
from mlkit.observability.dashboard import DashboardError, load_dashboard, validate_dashboard
from mlkit.observability.exporter import MetricsExporter
from mlkit.observability.metrics import histogram_quantile, parse_metrics, scrape
from mlkit.observability.receiver import WebhookReceiver
from mlkit.observability.servers import (
    AlertmanagerServer,
    ObservabilityStartError,
    PrometheusQueryError,
    PrometheusServer,
    ScrapeJob,
    copy_course_rules,
    render_alertmanager_config,
    render_prometheus_config,
    start_alertmanager,
    start_prometheus,
)
from mlkit.observability.tools import (
    PrometheusToolMissingError,
    PromtoolError,
    check_alertmanager_config,
    check_config,
    check_rules,
    run_rule_tests,
    tool_problem,
)

__all__ = [
    "AlertRule",
    "AlertmanagerServer",
    "DashboardError",
    "MetricsExporter",
    "ObservabilityStartError",
    "PrometheusQueryError",
    "PrometheusServer",
    "PrometheusToolMissingError",
    "PromtoolError",
    "ScrapeJob",
    "WebhookReceiver",
    "check_alertmanager_config",
    "check_config",
    "check_rules",
    "copy_course_rules",
    "evaluate_rules",
    "histogram_quantile",
    "load_dashboard",
    "parse_metrics",
    "render_alertmanager_config",
    "render_prometheus_config",
    "run_rule_tests",
    "scrape",
    "start_alertmanager",
    "start_prometheus",
    "tool_problem",
    "validate_dashboard",
]
