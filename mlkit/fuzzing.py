"""Fuzz a local service from its OpenAPI schema with schemathesis (module 08).

`fuzz_openapi` reads the schema a running service publishes, lets schemathesis generate
requests for every operation (valid ones, and invalid ones that a validating service
must refuse with a 4xx), sends them to 127.0.0.1 only, and checks each answer: no 5xx,
a status code and content type the schema documents, a body that fits the schema.
Bounded by `max_examples` per operation and mode, and by `max_seconds` in all.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import hypothesis
import hypothesis.configuration
import hypothesis.errors
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mlkit.settings import scratch_dir

BENTOML_SCHEMA_PATH = "/docs.json"
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


@dataclass(frozen=True)
class FuzzFailure:
    """One distinct problem: the operation, what failed, the status, and a curl reproducer."""

    operation: str
    check: str
    status: int | None
    reproducer: str


@dataclass
class FuzzReport:
    """What a fuzzing run sent and found."""

    base_url: str
    calls: int = 0
    status_counts: Counter[int] = field(default_factory=Counter)
    failures: list[FuzzFailure] = field(default_factory=list)
    seconds: float = 0.0
    stopped_by_time: bool = False

    @property
    def server_errors(self) -> int:
        """How many calls were answered with a 5xx status."""
        return sum(n for status, n in self.status_counts.items() if status >= 500)

    def add_failure(self, failure: FuzzFailure) -> None:
        """Keep the first reproducer of each distinct (operation, check, status)."""
        seen = {(f.operation, f.check, f.status) for f in self.failures}
        if (failure.operation, failure.check, failure.status) not in seen:
            self.failures.append(failure)

    def __str__(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.status_counts.items()))
        lines = [
            f"{self.calls} calls to {self.base_url} in {self.seconds:.1f} s"
            + (" (stopped by the time limit)" if self.stopped_by_time else ""),
            f"status codes: {statuses or 'none'}",
            f"distinct failures: {len(self.failures)}",
        ]
        for failure in self.failures:
            lines.append(f"  {failure.operation}: {failure.check} (status {failure.status})")
            lines.append(f"    {failure.reproducer}")
        return "\n".join(lines)


def check_local_url(base_url: str) -> str:
    """`base_url` without a trailing slash if it is http(s)://127.0.0.1:<port>, else ValueError."""
    parts = urlsplit(str(base_url))
    if parts.scheme not in {"http", "https"} or parts.hostname != "127.0.0.1" or not parts.port:
        raise ValueError(
            f"base_url: got {base_url!r}; fuzzing is only allowed against a service on this "
            "machine, expected http://127.0.0.1:<port> (or https://)."
        )
    return str(base_url).rstrip("/")


def fuzz_openapi(
    base_url: str,
    *,
    max_examples: int = 50,
    seed: int = 0,
    headers: dict[str, str] | None = None,
    max_seconds: float = 60.0,
    schema_path: str = BENTOML_SCHEMA_PATH,
    verify: bool | str = True,
) -> FuzzReport:
    """Fuzz every operation of the service at `base_url` (127.0.0.1 only) from its schema.

    For each operation, up to `max_examples` valid and `max_examples` invalid requests,
    seeded; calls stop once `max_seconds` have passed. `headers` go with every request
    (an API key, say); `verify` is passed to requests (a certificate path for HTTPS).
    Introduced in module 08.
    """
    base = check_local_url(base_url)
    if not (isinstance(max_examples, int) and max_examples >= 1):
        raise ValueError(f"max_examples: got {max_examples!r}, expected an int >= 1.")
    if not max_seconds > 0:
        raise ValueError(f"max_seconds: got {max_seconds!r}, expected a number of seconds > 0.")
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        # Hypothesis keeps caches in ./.hypothesis; keep them out of the course folders.
        hypothesis.configuration.set_hypothesis_home_dir(scratch_dir("hypothesis"))
    schema = schemathesis.openapi.from_url(
        base + schema_path, headers=headers or {}, timeout=10, verify=verify
    )
    report = FuzzReport(base_url=base)
    started = time.monotonic()
    deadline = started + max_seconds
    call = _Caller(report, deadline, headers, verify)
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise ValueError(
                f"the OpenAPI schema of {base} describes an operation that cannot be called: "
                f"{result.err()}; fix the service's schema, then fuzz it again."
            )
        operation = result.ok()
        for mode in MODES:
            if time.monotonic() > deadline:
                report.stopped_by_time = True
                break
            _fuzz_operation(operation, mode, call, max_examples=max_examples, seed=seed)
    report.seconds = time.monotonic() - started
    return report


@dataclass
class _Caller:
    """Sends one generated case and records its answer and any failed check in the report."""

    report: FuzzReport
    deadline: float
    headers: dict[str, str] | None
    verify: bool | str

    def __call__(self, case: schemathesis.Case) -> None:
        if time.monotonic() > self.deadline:
            self.report.stopped_by_time = True
            return
        label = case.operation.label
        self.report.calls += 1
        try:
            response = case.call(
                base_url=self.report.base_url, headers=self.headers, timeout=10, verify=self.verify
            )
        except requests.RequestException as err:
            reproducer = case.as_curl_command(headers=self.headers)
            self.report.add_failure(FuzzFailure(label, f"no answer: {err}", None, reproducer))
            return
        self.report.status_counts[response.status_code] += 1
        try:
            case.validate_response(response, checks=list(CHECKS), headers=self.headers)
        except (Failure, FailureGroup) as err:
            reproducer = case.as_curl_command(headers=self.headers)
            failures: tuple[Failure, ...] = (
                tuple(err.exceptions) if isinstance(err, FailureGroup) else (err,)
            )
            for failure in failures:
                self.report.add_failure(
                    FuzzFailure(label, failure.title, response.status_code, reproducer)
                )


def _fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    call: _Caller,
    *,
    max_examples: int,
    seed: int,
) -> None:
    """Run `call` on up to `max_examples` seeded cases of one operation in one mode."""

    @hypothesis.seed(seed)
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: schemathesis.Case) -> None:
        call(case)

    try:
        send()
    except hypothesis.errors.Unsatisfiable:
        pass  # no such request exists: an operation without inputs has no invalid ones
