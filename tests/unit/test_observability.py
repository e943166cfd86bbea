"""Prometheus, Alertmanager and a webhook receiver started for real on 127.0.0.1.

The course's rules pass `promtool check rules` and `promtool test rules`, and a broken copy
fails; injected drift makes InputDrift fire and reach the webhook, and it resolves when the
drift stops; a page is routed to on-call and inhibits the warnings of its service; the
Python versions (histogram_quantile, evaluate_rules) agree with Prometheus on the same data;
every query of the Grafana dashboard is valid PromQL for the running Prometheus.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest
from conftest import skip_or_fail
from prometheus_client import Counter, Gauge, Histogram

from mlkit import data, drift
from mlkit._runtime.net import is_listening
from mlkit.observability import (
    AlertRule,
    DashboardError,
    MetricsExporter,
    PromtoolError,
    ScrapeJob,
    WebhookReceiver,
    check_config,
    check_rules,
    copy_course_rules,
    evaluate_rules,
    histogram_quantile,
    load_dashboard,
    render_prometheus_config,
    run_rule_tests,
    start_alertmanager,
    start_prometheus,
    tool_problem,
    validate_dashboard,
)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@pytest.fixture(scope="module")
def tools() -> None:
    for name in ("prometheus", "promtool", "alertmanager", "amtool"):
        problem = tool_problem(name)
        if problem is not None:
            skip_or_fail(f"module 06 needs {problem}")


class Traffic:
    """A stand-in for the churn service's /metrics: /predict requests every 20 ms with a
    share of 500s, and the drift monitor's PSI gauge, on one exporter."""

    def __init__(self, exporter: MetricsExporter) -> None:
        registry = exporter.registry
        self.requests = Counter(
            "bentoml_service_request",
            "Requests.",
            ["endpoint", "http_response_code"],
            registry=registry,
        )
        self.seconds = Histogram(
            "bentoml_service_request_duration_seconds",
            "Duration.",
            ["endpoint", "http_response_code"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.psi = Gauge(
            "churn_input_psi", "PSI of each input.", ["feature", "service"], registry=registry
        )
        self.error_share = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rng = np.random.default_rng(0)
        while not self._stop.wait(0.02):
            code = "500" if rng.random() < self.error_share else "200"
            self.requests.labels("/predict", code).inc()
            self.seconds.labels("/predict", code).observe(float(rng.lognormal(np.log(0.02), 0.6)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def stack(tools, tmp_path_factory):
    folder = tmp_path_factory.mktemp("observability")
    rules, _ = copy_course_rules(folder)
    with WebhookReceiver() as hook, MetricsExporter() as exporter:
        traffic = Traffic(exporter)
        set_drift(traffic, shifted=False)
        alertmanager = start_alertmanager(hook.url("/team"), hook.url("/oncall"), log_dir=folder)
        prometheus = start_prometheus(
            [ScrapeJob("churn-service", [exporter.address])],
            rule_files=[rules],
            alertmanager=alertmanager.address,
            log_dir=folder,
        )
        try:
            prometheus.wait_for_targets()
            yield {"hook": hook, "traffic": traffic, "prometheus": prometheus, "am": alertmanager}
        finally:
            traffic.stop()
            for server in (prometheus, alertmanager):
                server.stop()
                assert not is_listening(server.port), f"{server} still listens"


def set_drift(traffic: Traffic, shifted: bool) -> float:
    """PSI of each feature of a fresh batch (covariate shift or not) against the reference,
    set as the gauge; returns the largest."""
    reference = data.make_dataset(2_000, seed=1)
    batch = data.make_dataset(1_000, seed=2)
    if shifted:
        batch = data.inject_covariate_shift(batch, ["monthly_spend"], size=1.0, seed=3)
    scores = {f: drift.psi(reference[f], batch[f]) for f in data.NUMERIC_FEATURES}
    for feature, score in scores.items():
        traffic.psi.labels(feature, "churn").set(score)
    return max(scores.values())


def test_course_rules_pass_promtool_and_a_broken_copy_fails(tools, tmp_path):
    rules, tests = copy_course_rules(tmp_path)
    assert "SUCCESS: 7 rules found" in check_rules(rules)
    assert "SUCCESS" in run_rule_tests(tests)
    # The drift threshold moved from 0.2 to 0.5: the rule file is still valid, its tests fail.
    rules.write_text(
        rules.read_text().replace("service:input_psi:max > 0.2", "service:input_psi:max > 0.5")
    )
    assert "SUCCESS" in check_rules(rules)
    with pytest.raises(PromtoolError, match="InputDrift") as failed:
        run_rule_tests(tests)
    assert "FAILED" in failed.value.output
    # Bad PromQL is refused by the check, naming the expression.
    rules.write_text(
        rules.read_text().replace(
            "max by (service) (churn_input_psi)", "max by (service (churn_input_psi)"
        )
    )
    with pytest.raises(PromtoolError, match="promtool check rules"):
        check_rules(rules)


def test_promtool_refuses_a_config_naming_a_missing_rule_file(tools, tmp_path):
    config = tmp_path / "prometheus.yml"
    job = ScrapeJob("churn-service", ["127.0.0.1:9"])
    config.write_text(render_prometheus_config([job], rule_files=[tmp_path / "missing.yml"]))
    with pytest.raises(PromtoolError, match="missing.yml"):
        check_config(config)
    with pytest.raises(ValueError, match="127.0.0.1:PORT"):
        ScrapeJob("churn-service", ["10.0.0.1:80"])
    with pytest.raises(ValueError, match="scrape_interval"):
        render_prometheus_config([job], scrape_interval="fast")


def no_page_firing(prometheus, timeout: float = 60.0) -> None:
    """Wait until no alert with severity page fires (it would inhibit the warnings)."""
    deadline = time.monotonic() + timeout
    while True:
        alerts = prometheus.alerts()
        if (
            alerts.empty
            or not ((alerts.get("severity") == "page") & (alerts.state == "firing")).any()
        ):
            return
        assert time.monotonic() < deadline, f"a page still fires:\n{alerts}"
        time.sleep(0.2)


def test_injected_drift_fires_reaches_the_receiver_and_resolves(stack):
    hook, traffic = stack["hook"], stack["traffic"]
    no_page_firing(stack["prometheus"])
    began = time.time()
    assert set_drift(traffic, shifted=True) > 0.2
    fired = hook.wait_for("InputDrift", "firing", timeout=60, after=began)
    assert fired.path == "/team" and fired.receiver == "team" and fired.severity == "warning"
    assert fired.service == "churn" and fired.summary.startswith("An input feature drifted")
    # pending for `for: 3s` first: not before the hold has passed
    assert fired.received_at - began >= 3
    firing = stack["prometheus"].alerts()
    assert ((firing.alertname == "InputDrift") & (firing.state == "firing")).any()

    stopped = time.time()
    assert set_drift(traffic, shifted=False) < 0.2
    resolved = hook.wait_for("InputDrift", "resolved", timeout=60, after=stopped)
    assert resolved.path == "/team" and resolved.group_status == "resolved"
    assert stack["prometheus"].query('ALERTS{alertname="InputDrift"}').empty


def test_a_page_goes_to_oncall_and_inhibits_the_warnings_of_its_service(stack):
    hook, traffic, am = stack["hook"], stack["traffic"], stack["am"]
    began = time.time()
    traffic.error_share = 0.5
    try:
        page = hook.wait_for("HighErrorRatio", "firing", timeout=60, after=began)
        assert page.path == "/oncall" and page.severity == "page"
        drifted = time.time()
        set_drift(traffic, shifted=True)
        deadline = time.monotonic() + 30
        while True:
            held = am.alerts()
            drift_alerts = held[held.alertname == "InputDrift"] if len(held) else held
            if len(drift_alerts):
                break
            assert time.monotonic() < deadline, f"InputDrift never reached Alertmanager:\n{held}"
            time.sleep(0.2)
        assert drift_alerts.state.tolist() == ["suppressed"]
        assert drift_alerts.inhibited_by.iloc[0] != ""
        time.sleep(3)  # group_wait is 1 s: a notification would have arrived by now
        sent = hook.table()
        assert sent[(sent.alertname == "InputDrift") & (sent.received_at >= drifted)].empty
    finally:
        traffic.error_share = 0.0
        set_drift(traffic, shifted=False)


def test_python_histogram_quantile_agrees_with_promql(stack):
    prometheus = stack["prometheus"]
    at = time.time() - 1
    selector = 'bentoml_service_request_duration_seconds_bucket{endpoint="/predict"}'
    for inner in (selector, f"increase({selector}[10s])"):
        buckets = prometheus.query(f"sum by (le) ({inner})", at=at)
        buckets = buckets.assign(le=buckets["le"].astype(float)).sort_values("le")
        assert len(buckets) == len(BUCKETS) + 1 and buckets["value"].iloc[-1] > 0
        for q in (0.5, 0.95, 0.99):
            promql = prometheus.query(f"histogram_quantile({q}, sum by (le) ({inner}))", at=at)
            ours = histogram_quantile(q, buckets["le"], buckets["value"])
            assert ours == pytest.approx(promql.value.item(), rel=1e-9), (q, inner)


def test_python_alert_rules_agree_with_prometheus(tools, tmp_path):
    """evaluate_rules with hold=3 over the same PSI series as a promtool unit test of the
    course's InputDrift (for: 3s): firing at exactly the same seconds."""
    rules, _ = copy_course_rules(tmp_path)
    values = [0.05, 0.3, 0.3, 0.1, 0.3, 0.3, 0.3, 0.3, 0.3, 0.05, 0.25, 0.25, 0.25, 0.25]
    events = evaluate_rules(
        AlertRule("InputDrift", "psi", ">", 0.2, hold=3), pd.DataFrame({"psi": values})
    )
    firing_at = set()
    state = False
    for t in range(len(values)):
        for _, event in events[events["at"] == t].iterrows():
            state = event.state == "firing"
        if state:
            firing_at.add(t)
    assert firing_at == {7, 8, 13}
    checks = [
        {
            "eval_time": f"{t}s",
            "alertname": "InputDrift",
            "exp_alerts": [
                {
                    "exp_labels": {"severity": "warning", "service": "churn"},
                    "exp_annotations": {
                        "summary": f"An input feature drifted: largest PSI {values[t]:.2f}."
                    },
                }
            ]
            if t in firing_at
            else [],
        }
        for t in range(len(values))
    ]
    unit = {
        "rule_files": [rules.name],
        "evaluation_interval": "1s",
        "tests": [
            {
                "interval": "1s",
                "input_series": [
                    {
                        "series": 'churn_input_psi{service="churn"}',
                        "values": " ".join(map(str, values)),
                    }
                ],
                "alert_rule_test": checks,
            }
        ],
    }
    (tmp_path / "agree_test.yml").write_text(json.dumps(unit))
    assert "SUCCESS" in run_rule_tests(tmp_path / "agree_test.yml")


def test_dashboard_follows_grafanas_model_and_its_queries_run(stack):
    dashboard = load_dashboard()
    exprs = validate_dashboard(dashboard)
    assert len(exprs) == 8 and {p["type"] for p in dashboard["panels"]} == {"timeseries", "stat"}
    for expr in exprs:
        stack["prometheus"].query(expr)  # raises PrometheusQueryError on invalid PromQL
    broken = json.loads(json.dumps(dashboard))
    broken["panels"][1]["gridPos"]["x"] = 20
    del broken["panels"][0]["targets"][0]["refId"]
    broken["schemaVersion"] = "39"
    with pytest.raises(DashboardError) as refused:
        validate_dashboard(broken)
    assert len(refused.value.problems) == 3
    assert any("panels[1].gridPos" in p for p in refused.value.problems)


def test_receiver_records_posts_and_refuses_bad_bodies():
    import httpx

    with WebhookReceiver() as hook:
        payload = {
            "status": "firing",
            "receiver": "team",
            "alerts": [{"status": "firing", "labels": {"alertname": "X", "severity": "page"}}],
        }
        assert httpx.post(hook.url("/team"), json=payload).status_code == 200
        assert (
            httpx.post(
                hook.url("/team"), content=b"not json", headers={"content-type": "application/json"}
            ).status_code
            == 400
        )
        assert hook.wait_for("X", timeout=5).path == "/team"
        assert len(hook.notifications) == 1
        with pytest.raises(TimeoutError, match="no resolved X"):
            hook.wait_for("X", "resolved", timeout=0.3)
        port = hook.port
    assert not is_listening(port)
