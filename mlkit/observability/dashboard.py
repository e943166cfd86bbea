"""A Grafana dashboard for the churn service, and a check of its JSON model (module 06).

`mlkit/data_files/grafana_churn_dashboard.json` is a dashboard to import into Grafana
(Dashboards → Import) with a Prometheus data source: requests per second, latency
percentiles, the error ratio, the PSI of each input and the firing alerts, with the
PromQL of module 06. `validate_dashboard` checks the fields of Grafana's dashboard JSON
model that an import relies on (uid, title, schemaVersion, time, templating, and per panel
id, type, title, gridPos on the 24-column grid, datasource and targets with refId and
expr) and returns every PromQL expression, so a test can ask a real Prometheus whether
each one parses.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from typing import Any

from mlkit.errors import MlkitError

__all__ = ["DASHBOARD", "DashboardError", "load_dashboard", "validate_dashboard"]

DASHBOARD = "grafana_churn_dashboard.json"  # in mlkit/data_files
PANEL_TYPES = {"timeseries", "stat", "gauge", "table", "bargauge", "heatmap", "text", "row"}
_UID = re.compile(r"[A-Za-z0-9_-]{1,40}")
GRID_COLUMNS = 24


class DashboardError(MlkitError, ValueError):
    """A dashboard's JSON does not follow Grafana's model; `problems` lists each field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the dashboard JSON has {len(problems)} problem(s):\n{listed}")


def load_dashboard(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The dashboard at `path` (default: the course's) as a dict."""
    if path is None:
        text = resources.files("mlkit.data_files").joinpath(DASHBOARD).read_text()
    else:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise DashboardError([f"the top level is a {type(loaded).__name__}, expected an object"])
    return loaded


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def _check_panel(panel: Any, where: str, problems: list[str], exprs: list[str]) -> None:
    if not isinstance(panel, dict):
        problems.append(f"{where}: expected an object")
        return
    if not _is(panel.get("id"), int):
        problems.append(f"{where}.id: expected an integer")
    if panel.get("type") not in PANEL_TYPES:
        problems.append(
            f"{where}.type: got {panel.get('type')!r}, expected one of {sorted(PANEL_TYPES)}"
        )
    if not (isinstance(panel.get("title"), str) and panel["title"]):
        problems.append(f"{where}.title: expected a non-empty string")
    grid = panel.get("gridPos")
    if not (isinstance(grid, dict) and all(_is(grid.get(k), int) for k in "hwxy")):
        problems.append(f"{where}.gridPos: expected integers h, w, x, y")
    elif not (
        grid["h"] > 0
        and 0 < grid["w"] <= GRID_COLUMNS
        and 0 <= grid["x"]
        and grid["y"] >= 0
        and grid["x"] + grid["w"] <= GRID_COLUMNS
    ):
        problems.append(f"{where}.gridPos: {grid} does not fit the {GRID_COLUMNS}-column grid")
    if panel.get("type") in ("row", "text"):
        return
    source = panel.get("datasource")
    if not (isinstance(source, dict) and source.get("type") == "prometheus"):
        problems.append(f"{where}.datasource: expected {{'type': 'prometheus', 'uid': ...}}")
    targets = panel.get("targets")
    if not (isinstance(targets, list) and targets):
        problems.append(f"{where}.targets: expected a non-empty list of queries")
        return
    ref_ids = [t.get("refId") if isinstance(t, dict) else None for t in targets]
    if len(set(ref_ids)) != len(ref_ids) or not all(isinstance(r, str) and r for r in ref_ids):
        problems.append(f"{where}.targets: each needs its own refId, got {ref_ids}")
    for k, target in enumerate(targets):
        expr = target.get("expr") if isinstance(target, dict) else None
        if not (isinstance(expr, str) and expr.strip()):
            problems.append(f"{where}.targets[{k}].expr: expected a PromQL expression")
        else:
            exprs.append(expr)


def validate_dashboard(dashboard: dict[str, Any]) -> list[str]:
    """Check a dashboard against Grafana's JSON model; return its PromQL expressions.

    Raises `DashboardError` listing every field that is missing or wrong.
    """
    if not isinstance(dashboard, dict):
        raise DashboardError([f"expected a JSON object, got {type(dashboard).__name__}"])
    problems: list[str] = []
    if not (isinstance(dashboard.get("uid"), str) and _UID.fullmatch(dashboard["uid"])):
        problems.append("uid: expected 1 to 40 letters, digits, '-' or '_'")
    if not (isinstance(dashboard.get("title"), str) and dashboard["title"]):
        problems.append("title: expected a non-empty string")
    if not (_is(dashboard.get("schemaVersion"), int) and dashboard["schemaVersion"] >= 16):
        problems.append("schemaVersion: expected an integer (Grafana migrates from 16 on)")
    time_range = dashboard.get("time")
    if not (
        isinstance(time_range, dict)
        and all(isinstance(time_range.get(k), str) for k in ("from", "to"))
    ):
        problems.append("time: expected {'from': 'now-15m', 'to': 'now'}")
    templating = dashboard.get("templating", {"list": []})
    if not (
        isinstance(templating, dict)
        and isinstance(templating.get("list"), list)
        and all(isinstance(v, dict) and v.get("name") and v.get("type") for v in templating["list"])
    ):
        problems.append("templating.list: expected variables with a name and a type")
    panels = dashboard.get("panels")
    exprs: list[str] = []
    if not (isinstance(panels, list) and panels):
        problems.append("panels: expected a non-empty list")
        panels = []
    for i, panel in enumerate(panels):
        _check_panel(panel, f"panels[{i}]", problems, exprs)
    ids = [p.get("id") for p in panels if isinstance(p, dict)]
    if len(set(ids)) != len(ids):
        problems.append(f"panels: ids must be unique, got {ids}")
    if problems:
        raise DashboardError(problems)
    return exprs
