"""Prometheus and Alertmanager started for real on 127.0.0.1 (module 06).

`start_prometheus` writes `prometheus.yml` from the template `mlkit/data_files/prometheus.yml`
(the scrape jobs, the rule files, the Alertmanager to notify, short intervals), runs
`promtool check config` on it, and only then starts Debian's `prometheus` as a
`LoggedProcess` on a free port, with its data in a folder of its own. It returns a
`PrometheusServer` whose `query`, `query_range`, `alerts` and `targets` ask Prometheus's
HTTP API and return tables. `start_alertmanager` does the same for Alertmanager (template
`mlkit/data_files/alertmanager.yml`, checked with `amtool check-config`, clustering off):
alerts are grouped by alertname and service, pages inhibit warnings of the same service,
and each route ends at a webhook (`receiver.WebhookReceiver`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pandas as pd

from mlkit._runtime.net import LOCALHOST, free_port, owns_port, wait_for_http
from mlkit._runtime.process import LoggedProcess
from mlkit.errors import MlkitError, ServerStartError
from mlkit.observability.tools import check_alertmanager_config, check_config, require
from mlkit.settings import scratch_dir

__all__ = [
    "COURSE_RULES",
    "COURSE_RULE_TESTS",
    "AlertmanagerServer",
    "ObservabilityStartError",
    "PrometheusQueryError",
    "PrometheusServer",
    "ScrapeJob",
    "copy_course_rules",
    "render_alertmanager_config",
    "render_prometheus_config",
    "start_alertmanager",
    "start_prometheus",
]

COURSE_RULES = "churn_rules.yml"  # in mlkit/data_files
COURSE_RULE_TESTS = "churn_rules_test.yml"
_DURATION = re.compile(r"[0-9]+(ms|s|m|h)")
_JOB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_TARGET = re.compile(r"(127\.0\.0\.1|localhost):[0-9]{1,5}")
_START_ATTEMPTS = 3


class ObservabilityStartError(ServerStartError):
    """Prometheus or Alertmanager did not become ready on its own port; shows its log."""


class PrometheusQueryError(MlkitError, ValueError):
    """Prometheus refused a query (bad PromQL, bad time); the message quotes its error."""


def _duration(name: str, value: str) -> str:
    if not (isinstance(value, str) and _DURATION.fullmatch(value)):
        raise ValueError(f"{name}: got {value!r}, expected a duration such as '1s' or '500ms'.")
    return value


@dataclass(frozen=True)
class ScrapeJob:
    """One scrape job: a name (the `job` label), `host:port` targets on 127.0.0.1, a path."""

    name: str
    targets: Sequence[str]
    metrics_path: str = "/metrics"

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and _JOB_NAME.fullmatch(self.name)):
            raise ValueError(
                f"name: got {self.name!r}, expected a job name such as 'churn-service'."
            )
        targets = [self.targets] if isinstance(self.targets, str) else list(self.targets)
        bad = [t for t in targets if not (isinstance(t, str) and _TARGET.fullmatch(t))]
        if not targets or bad:
            raise ValueError(
                f"targets: got {self.targets!r}, expected '127.0.0.1:PORT' addresses "
                "(Prometheus here scrapes only this machine)."
            )
        object.__setattr__(self, "targets", tuple(targets))
        if not (isinstance(self.metrics_path, str) and self.metrics_path.startswith("/")):
            raise ValueError(
                f"metrics_path: got {self.metrics_path!r}, expected a path like '/metrics'."
            )

    @classmethod
    def for_url(cls, name: str, url: str) -> ScrapeJob:
        """A job scraping `url`'s `/metrics`, e.g. `ScrapeJob.for_url("churn-service", svc.url)`."""
        found = re.fullmatch(r"http://((?:127\.0\.0\.1|localhost):[0-9]+)/?", str(url))
        if found is None:
            raise ValueError(f"url: got {url!r}, expected http://127.0.0.1:PORT.")
        return cls(name, [found.group(1)])


def _template(name: str) -> Template:
    return Template(resources.files("mlkit.data_files").joinpath(name).read_text())


def copy_course_rules(folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Copy the course's rule file and its unit tests into `folder`; return both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in (COURSE_RULES, COURSE_RULE_TESTS):
        text = resources.files("mlkit.data_files").joinpath(name).read_text()
        (folder / name).write_text(text)
        paths.append(folder / name)
    return paths[0], paths[1]


def render_prometheus_config(
    jobs: Iterable[ScrapeJob],
    *,
    rule_files: Iterable[str | os.PathLike[str]] = (),
    alertmanager: str | None = None,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
) -> str:
    """The text of prometheus.yml: the template filled with these jobs and settings.

    `alertmanager` is Alertmanager's `host:port` (None: no alerting section).
    """
    jobs = list(jobs)
    if not jobs or not all(isinstance(j, ScrapeJob) for j in jobs):
        raise TypeError("jobs: expected one or more ScrapeJob objects.")
    interval = _duration("scrape_interval", scrape_interval)
    job_text = "".join(
        f"  - job_name: {json.dumps(j.name)}\n"
        f"    metrics_path: {json.dumps(j.metrics_path)}\n"
        f"    static_configs:\n      - targets: {json.dumps(list(j.targets))}\n"
        for j in jobs
    )
    alerting = ""
    if alertmanager is not None:
        if not _TARGET.fullmatch(str(alertmanager)):
            raise ValueError(f"alertmanager: got {alertmanager!r}, expected '127.0.0.1:PORT'.")
        alerting = (
            "alerting:\n  alertmanagers:\n"
            f"    - static_configs:\n        - targets: [{json.dumps(alertmanager)}]\n"
        )
    return _template("prometheus.yml").substitute(
        scrape_interval=interval,
        scrape_timeout=interval,
        evaluation_interval=_duration("evaluation_interval", evaluation_interval),
        rule_files=json.dumps([str(Path(p).resolve()) for p in rule_files]),
        alerting=alerting,
        scrape_jobs=job_text,
    )


def render_alertmanager_config(
    team_url: str,
    oncall_url: str | None = None,
    *,
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
) -> str:
    """The text of alertmanager.yml: warnings to `team_url`, pages to `oncall_url` (default:
    the same webhook), grouped by alertname and service, pages inhibiting warnings."""
    for name, url in (("team_url", team_url), ("oncall_url", oncall_url or team_url)):
        if not (isinstance(url, str) and re.fullmatch(r"http://127\.0\.0\.1:[0-9]+(/\S*)?", url)):
            raise ValueError(
                f"{name}: got {url!r}, expected a webhook URL on http://127.0.0.1:PORT."
            )
    return _template("alertmanager.yml").substitute(
        group_wait=_duration("group_wait", group_wait),
        group_interval=_duration("group_interval", group_interval),
        repeat_interval=_duration("repeat_interval", repeat_interval),
        team_url=json.dumps(team_url),
        oncall_url=json.dumps(oncall_url or team_url),
    )


class _HttpServer(LoggedProcess):
    """A Prometheus-family server on 127.0.0.1:port with its config and data folder."""

    name = "server"

    def __init__(self, command: list[str], log_path: Path, *, port: int, config_path: Path) -> None:
        self.port = port
        self.config_path = config_path
        super().__init__(command, log_path, cwd=log_path.parent, show_command=True)

    @property
    def url(self) -> str:
        """Its address, e.g. http://127.0.0.1:12345."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def address(self) -> str:
        """`127.0.0.1:port`, as other configs name it."""
        return f"{LOCALHOST}:{self.port}"

    def _get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=10)
        is_json = response.headers.get("content-type", "").startswith("application/json")
        body = response.json() if is_json else None
        if not isinstance(body, dict):  # Alertmanager's v2 API answers lists
            if response.status_code >= 400 or body is None:
                raise PrometheusQueryError(
                    f"{self.name} refused GET {path} {params}: {response.text[:300]}"
                )
            return body
        if response.status_code >= 400 or body.get("status") == "error":
            said = body.get("error") or response.text[:300]
            raise PrometheusQueryError(f"{self.name} refused GET {path} {params}: {said}")
        return body.get("data", body)

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.url} ({state}), log: {self.log_path}>"


def _vector_rows(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**item["metric"], "t": float(item["value"][0]), "value": float(item["value"][1])}
        for item in result
    ]


class PrometheusServer(_HttpServer):
    """A `prometheus` started by `start_prometheus`; ask it with PromQL (module 06)."""

    name = "Prometheus"

    def query(self, expr: str, at: float | None = None) -> pd.DataFrame:
        """An instant query: one row per series, its labels, `t` and `value` (a float).

        A scalar result is one row without labels. Raises `PrometheusQueryError` on bad PromQL.
        """
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self._get("/api/v1/query", **params)
        if data["resultType"] in ("scalar", "string"):
            t, value = data["result"]
            return pd.DataFrame([{"t": float(t), "value": float(value)}])
        return pd.DataFrame(
            _vector_rows(data["result"]), columns=None if data["result"] else ["t", "value"]
        )

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> pd.DataFrame:
        """A range query: one row per series and time step (labels, `t`, `value`)."""
        data = self._get("/api/v1/query_range", query=expr, start=start, end=end, step=step)
        rows = [
            {**item["metric"], "t": float(t), "value": float(v)}
            for item in data["result"]
            for t, v in item["values"]
        ]
        return pd.DataFrame(rows, columns=None if rows else ["t", "value"])

    def alerts(self) -> pd.DataFrame:
        """The alerts Prometheus holds now: alertname, state (pending or firing), since, value."""
        rows = [
            {
                **a["labels"],
                "state": a["state"],
                "active_at": a.get("activeAt"),
                "value": float(a["value"]),
            }
            for a in self._get("/api/v1/alerts")["alerts"]
        ]
        return pd.DataFrame(
            rows, columns=None if rows else ["alertname", "state", "active_at", "value"]
        )

    def rules(self) -> pd.DataFrame:
        """Every loaded rule: group, name, type (recording or alerting), health, state."""
        rows = [
            {
                "group": g["name"],
                "name": r["name"],
                "type": r["type"],
                "health": r["health"],
                "state": r.get("state", ""),
                "query": r["query"],
            }
            for g in self._get("/api/v1/rules")["groups"]
            for r in g["rules"]
        ]
        return pd.DataFrame(rows)

    def targets(self) -> pd.DataFrame:
        """The scrape targets: job, address, health (up, down, unknown), last error."""
        rows = [
            {
                "job": t["labels"].get("job"),
                "address": t["labels"].get("instance"),
                "health": t["health"],
                "last_error": t.get("lastError", ""),
            }
            for t in self._get("/api/v1/targets")["activeTargets"]
        ]
        return pd.DataFrame(rows)

    def wait_for_targets(self, timeout: float = 30.0) -> pd.DataFrame:
        """Wait until every target has been scraped successfully; return `targets()`."""
        deadline = time.monotonic() + timeout
        while True:
            table = self.targets()
            if len(table) and (table.health == "up").all():
                return table
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"targets not all up after {timeout:.0f} s:\n{table.to_string()}"
                )
            time.sleep(0.2)


class AlertmanagerServer(_HttpServer):
    """An Alertmanager started by `start_alertmanager` (module 06)."""

    name = "Alertmanager"

    def alerts(self) -> pd.DataFrame:
        """The alerts it holds: alertname, severity, state (active, suppressed), inhibited by."""
        rows = [
            {
                **a["labels"],
                "state": a["status"]["state"],
                "inhibited_by": ", ".join(a["status"]["inhibitedBy"]),
                "starts_at": a["startsAt"],
            }
            for a in self._get("/api/v2/alerts")
        ]
        return pd.DataFrame(rows, columns=None if rows else ["alertname", "state", "inhibited_by"])


def _start(
    kind: type[_HttpServer],
    command: Callable[[int, Path], list[str]],
    folder: Path,
    config_path: Path,
    timeout: float,
) -> Any:
    for attempt in range(1, _START_ATTEMPTS + 1):
        port = free_port()
        data = folder / f"{kind.name.lower()}-data-{port}"
        server = kind(
            command(port, data),
            folder / f"{kind.name.lower()}-{port}.log",
            port=port,
            config_path=config_path,
        )
        ready = wait_for_http(server.url + "/-/ready", timeout=timeout, alive=server.is_running)
        owned = owns_port(server.family_pids(), port)
        if ready and owned and server.is_running():
            return server
        taken = not owned or "address already in use" in server.log_tail(50).lower()
        exit_code = server.returncode
        server.stop(grace=2.0)
        shutil.rmtree(data, ignore_errors=True)
        if taken and attempt < _START_ATTEMPTS:
            continue
        reason = (
            f"another program answers on port {port}"
            if ready and not owned
            else f"it exited with code {exit_code}"
            if exit_code is not None
            else f"/-/ready did not answer within {timeout:.0f} s"
        )
        raise ObservabilityStartError(
            kind.name,
            reason,
            server.log_tail(25),
            server.log_path,
            "Read the log above; the config it was given is " + str(config_path),
        )
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _folder(log_dir: str | os.PathLike[str] | None) -> Path:
    folder = Path(log_dir) if log_dir is not None else scratch_dir("services")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_prometheus(
    jobs: Iterable[ScrapeJob],
    *,
    rule_files: Iterable[str | os.PathLike[str]] = (),
    alertmanager: str | None = None,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    timeout: float = 60.0,
    log_dir: str | os.PathLike[str] | None = None,
) -> PrometheusServer:
    """Write prometheus.yml, check it with `promtool check config`, start Prometheus on
    127.0.0.1 and wait until `/-/ready` answers on its own port (module 06).

    `alertmanager` is `AlertmanagerServer.address` (None: no alerts are sent). The config,
    log and data go to `log_dir` (default `<scratch>/services`). Raises `PromtoolError`
    when promtool refuses the config, `ObservabilityStartError` when it does not start.
    """
    executable = require("prometheus")
    folder = _folder(log_dir)
    config_path = folder / "prometheus.yml"
    config_path.write_text(
        render_prometheus_config(
            jobs,
            rule_files=rule_files,
            alertmanager=alertmanager,
            scrape_interval=scrape_interval,
            evaluation_interval=evaluation_interval,
        )
    )
    check_config(config_path)

    def command(port: int, data: Path) -> list[str]:
        return [
            executable,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address={LOCALHOST}:{port}",
            "--storage.tsdb.retention.time=1h",
            f"--web.external-url=http://{LOCALHOST}:{port}/",
            "--log.level=warn",
        ]

    server: PrometheusServer = _start(PrometheusServer, command, folder, config_path, timeout)
    return server


def start_alertmanager(
    team_url: str,
    oncall_url: str | None = None,
    *,
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
    timeout: float = 60.0,
    log_dir: str | os.PathLike[str] | None = None,
) -> AlertmanagerServer:
    """Write alertmanager.yml, check it with `amtool check-config`, start Alertmanager on
    127.0.0.1 (no cluster port) and wait until `/-/ready` answers (module 06).

    Warnings go to the webhook `team_url`, pages to `oncall_url` (default: `team_url`).
    """
    executable = require("alertmanager")
    folder = _folder(log_dir)
    config_path = folder / "alertmanager.yml"
    config_path.write_text(
        render_alertmanager_config(
            team_url,
            oncall_url,
            group_wait=group_wait,
            group_interval=group_interval,
            repeat_interval=repeat_interval,
        )
    )
    check_alertmanager_config(config_path)

    def command(port: int, data: Path) -> list[str]:
        return [
            executable,
            f"--config.file={config_path}",
            f"--storage.path={data}",
            f"--web.listen-address={LOCALHOST}:{port}",
            "--cluster.listen-address=",
            f"--web.external-url=http://{LOCALHOST}:{port}/",
            "--log.level=warn",
        ]

    server: AlertmanagerServer = _start(AlertmanagerServer, command, folder, config_path, timeout)
    return server
