"""Security scanners: bandit on code, pip-audit on pins, and a secret finder (module 08).

`bandit_findings` runs bandit (static analysis of Python source) as a subprocess and
reads its JSON report. `audit_requirements` runs pip-audit as a library on a list of
pinned requirements; instead of asking PyPI or OSV over the network, its vulnerability
service reads an OSV-format advisory snapshot shipped in `mlkit/data_files/`, so the
lesson runs offline (on a connected machine, `pip-audit -r requirements.txt` queries
the live databases). `find_secrets` looks for secret-looking strings in text files,
notebooks (sources and outputs) and logs.

Supply chain: `make_sbom` writes a CycloneDX SBOM of pinned requirements with
`cyclonedx-py` (the cyclonedx-bom package); `audit_sbom` audits its components with
pip-audit against the snapshot and returns pip-audit's own JSON report; `pip_audit_report`
runs the `pip-audit` command itself against PyPI; `dependency_policy` reads either
report, looks up each advisory's severity and fails the build on HIGH or worse, and on
any package that could not be audited.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

# pip-audit has no public Python API (its modules are private by name); the lesson needs
# it as a library to plug in the offline advisory snapshot as a vulnerability service.
# pyproject.toml pins pip-audit, and tests/unit/test_private_apis.py checks that these
# names and signatures are still there, so an upgrade fails a test, not a lesson.
from pip_audit._audit import Auditor
from pip_audit._dependency_source import DependencySourceError, RequirementSource
from pip_audit._format import JsonFormat
from pip_audit._service import (
    Dependency,
    ResolvedDependency,
    VulnerabilityResult,
    VulnerabilityService,
)

from mlkit.errors import MlkitError
from mlkit.image_audit import IMAGE_BENTO_PATH, image_folder_tar

SEVERITIES = ("LOW", "MEDIUM", "HIGH")
ADVISORY_SNAPSHOT = "advisories.json"


class ScanningError(MlkitError, RuntimeError):
    """A scanner could not run: a tool is missing or its input is unusable."""


@dataclass(frozen=True)
class Finding:
    """One bandit result: the check's id (B301...), how bad and how sure, and where."""

    test_id: str
    severity: str
    confidence: str
    filename: str
    line: int
    text: str


def _existing_path(path: str | os.PathLike, argument: str) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{argument}: got {type(path).__name__}, expected a file or folder path.")
    resolved = Path(path)
    if not resolved.exists():
        raise FileNotFoundError(f"{argument}: {str(resolved)!r} does not exist.")
    return resolved


def bandit_findings(path: str | os.PathLike, *, min_severity: str = "LOW") -> list[Finding]:
    """Bandit's findings for a Python file or a folder (recursively), at `min_severity` or worse.

    `min_severity` is LOW, MEDIUM or HIGH. Raises `ScanningError` when bandit is not
    installed or cannot parse its input, `FileNotFoundError` for a missing path.
    """
    target = _existing_path(path, "path")
    level = str(min_severity).upper()
    if level not in SEVERITIES:
        raise ValueError(f"min_severity: got {min_severity!r}, expected one of {SEVERITIES}.")
    if importlib.util.find_spec("bandit") is None:
        raise ScanningError("bandit is not installed: run `pip install -e .` in the kit's folder.")
    command = [sys.executable, "-m", "bandit", "-f", "json", "-q", "-r", str(target)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    # bandit exits 1 when it finds something; only a report it could not write is an error.
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise ScanningError(
            f"bandit gave no JSON report for {str(target)!r} (exit {done.returncode}): "
            f"{done.stderr.strip()[-500:]}"
        ) from err
    if report.get("errors"):
        raise ScanningError(f"bandit could not scan {str(target)!r}: {report['errors']}")
    lowest = SEVERITIES.index(level)
    return [
        Finding(
            test_id=result["test_id"],
            severity=result["issue_severity"],
            confidence=result["issue_confidence"],
            filename=result["filename"],
            line=int(result["line_number"]),
            text=result["issue_text"],
        )
        for result in report.get("results", [])
        if SEVERITIES.index(result["issue_severity"]) >= lowest
    ]


@dataclass(frozen=True)
class Vulnerability:
    """A published advisory that applies to one pinned package version."""

    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]
    description: str


def load_advisories(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The OSV records of an advisory snapshot (default: the one shipped with mlkit).

    A snapshot is a JSON object with an `advisories` list of OSV-format records.
    """
    if path is None:
        text = resources.files("mlkit.data_files").joinpath(ADVISORY_SNAPSHOT).read_text()
        origin = f"mlkit/data_files/{ADVISORY_SNAPSHOT}"
    else:
        text = _existing_path(path, "advisories").read_text()
        origin = str(path)
    try:
        records = json.loads(text)["advisories"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ScanningError(
            f"advisories: {origin} is not a snapshot (a JSON object with an 'advisories' "
            f"list of OSV records): {err}"
        ) from err
    return records


def _in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """Whether `version` falls in an OSV ECOSYSTEM range (introduced/fixed/last_affected)."""
    introduced: Version | None = None
    for event in events:
        if "introduced" in event:
            introduced = Version(event["introduced"])
        elif introduced is not None and "fixed" in event:
            if introduced <= version < Version(event["fixed"]):
                return True
            introduced = None
        elif introduced is not None and "last_affected" in event:
            if introduced <= version <= Version(event["last_affected"]):
                return True
            introduced = None
    return introduced is not None and version >= introduced


class SnapshotService(VulnerabilityService):
    """A pip-audit vulnerability service that answers from OSV records held in memory."""

    def __init__(self, advisories: list[dict[str, Any]]):
        self._by_package: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
        for record in advisories:
            for affected in record.get("affected", []):
                package = affected["package"]
                if package.get("ecosystem") == "PyPI":
                    name = canonicalize_name(package["name"])
                    self._by_package.setdefault(name, []).append((record, affected))

    def query(self, spec: Dependency) -> tuple[Dependency, list[VulnerabilityResult]]:
        """The advisories whose affected ranges contain the pinned version of `spec`."""
        if not isinstance(spec, ResolvedDependency):
            return spec, []
        results = []
        for record, affected in self._by_package.get(spec.canonical_name, []):
            ranges = [r for r in affected.get("ranges", []) if r["type"] == "ECOSYSTEM"]
            if not any(_in_range(spec.version, r["events"]) for r in ranges):
                continue
            fixes = sorted(
                Version(event["fixed"]) for r in ranges for event in r["events"] if "fixed" in event
            )
            results.append(
                VulnerabilityResult.create(
                    ids=[record["id"], *record.get("aliases", [])],
                    description=record.get("summary") or record.get("details", "N/A"),
                    fix_versions=fixes,
                    published=None,
                )
            )
        return spec, results


def _requirement_files(requirements: list[str] | str | os.PathLike, folder: Path) -> Path:
    if isinstance(requirements, list):
        if not all(isinstance(line, str) for line in requirements):
            raise TypeError("requirements: expected a list of strings such as 'requests==2.25.0'.")
        path = folder / "requirements.txt"
        path.write_text("\n".join(requirements) + "\n")
        return path
    return _existing_path(requirements, "requirements")


def audit_requirements(
    requirements: list[str] | str | os.PathLike,
    *,
    advisories: str | os.PathLike | None = None,
) -> list[Vulnerability]:
    """pip-audit on pinned requirements (a list of lines or a requirements file), offline.

    Every requirement must be pinned with `==`. The advisories come from an OSV-format
    snapshot (default: the one shipped with mlkit), not from the network. Returns one
    `Vulnerability` per advisory that applies, sorted by package and id.
    """
    service = SnapshotService(load_advisories(advisories))
    with tempfile.TemporaryDirectory(prefix="mlkit-audit-") as folder:
        path = _requirement_files(requirements, Path(folder))
        source = RequirementSource([path], no_deps=True, disable_pip=True)
        try:
            audited = list(Auditor(service).audit(source))
        except DependencySourceError as err:
            raise ValueError(
                f"requirements: {err}. Expected exact pins such as 'requests==2.32.4', one a line."
            ) from err
    found = [
        Vulnerability(
            package=dependency.canonical_name,
            version=str(dependency.version),
            id=result.id,
            aliases=tuple(sorted(result.aliases)),
            fix_versions=tuple(str(v) for v in result.fix_versions),
            description=result.description,
        )
        for dependency, results in audited
        if isinstance(dependency, ResolvedDependency)
        for result in results
    ]
    return sorted(found, key=lambda v: (v.package, v.id))


@dataclass(frozen=True)
class SecretHit:
    """A secret-looking string: the file, where in it, which pattern, and a redacted excerpt."""

    path: str
    where: str
    kind: str
    excerpt: str


SECRET_PATTERNS: dict[str, str] = {
    "private key": r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
    "AWS access key id": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "Slack token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b",
    "OpenAI-style key": r"\bsk-[A-Za-z0-9_-]{20,}\b",
    "password assignment": (
        r"(?i)\b[\w.-]*pass(?:word|wd)['\"]?\s*[=:]\s*['\"]?(?P<value>[^\s'\"]{4,})"
    ),
    "token assignment": (
        r"(?i)\b[\w.-]*(?:api[_-]?key|secret|token|access[_-]?key)[\w.-]*['\"]?\s*[=:]\s*"
        r"['\"]?(?P<random>[A-Za-z0-9_\-+/=.]{16,})(?![\w\-+/=.(])"
    ),
}
MIN_TOKEN_ENTROPY = 3.5
MAX_FILE_BYTES = 5_000_000


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`: random keys score about 4-6, words and repeats far less."""
    if not text:
        return 0.0
    counts = {c: text.count(c) for c in set(text)}
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _redact(line: str, start: int, end: int) -> str:
    secret = line[start:end]
    shown = secret[:6] + "…" if len(secret) > 8 else "…"
    excerpt = (line[max(0, start - 30) : start] + shown + line[end : end + 20]).strip()
    return excerpt[:100]


def _hits_in_text(
    text: str, compiled: dict[str, re.Pattern[str]]
) -> Iterator[tuple[int, str, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in compiled.items():
            for match in pattern.finditer(line):
                groups = match.groupdict()
                if "random" in groups and shannon_entropy(groups["random"]) < MIN_TOKEN_ENTROPY:
                    continue
                secret = next((g for g in ("random", "value") if g in groups), 0)
                start, end = match.span(secret)
                yield number, kind, _redact(line, start, end)


def _notebook_texts(notebook: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, text) for each cell's source and each of its outputs' text."""
    for index, cell in enumerate(notebook.get("cells", []), start=1):
        yield f"cell {index} source", "".join(cell.get("source", ""))
        for output in cell.get("outputs", []):
            parts = [output.get("text", ""), output.get("traceback", [])]
            parts += [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
            for part in parts:
                text = "".join(part) if isinstance(part, list) else str(part)
                yield f"cell {index} output", text


def _files(paths: Iterable[str | os.PathLike]) -> Iterator[Path]:
    for given in paths:
        path = _existing_path(given, "paths")
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def find_secrets(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    patterns: dict[str, str] | None = None,
) -> list[SecretHit]:
    """Secret-looking strings in files and folders: text, logs, and notebooks' sources and outputs.

    `patterns` maps a name to a regular expression (default `SECRET_PATTERNS`). The
    excerpt hides the group named `value` (or `random`, or the whole match); a `random`
    group only counts when it looks random (Shannon entropy of at least
    `MIN_TOKEN_ENTROPY` bits a character), so `token = "aaaa…"` is not reported.
    Binary files and files over 5 MB are skipped.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    try:
        compiled = {kind: re.compile(rx) for kind, rx in (patterns or SECRET_PATTERNS).items()}
    except (re.error, AttributeError) as err:
        raise ValueError(f"patterns: expected {{name: regular expression}}; {err}") from err
    hits = []
    for path in _files(paths):
        if path.stat().st_size > MAX_FILE_BYTES:
            continue
        raw = path.read_bytes()
        if b"\0" in raw[:8192]:
            continue
        text = raw.decode("utf-8", errors="replace")
        if path.suffix == ".ipynb":
            try:
                texts = list(_notebook_texts(json.loads(text)))
            except json.JSONDecodeError:
                texts = [("", text)]
        else:
            texts = [("", text)]
        for where, chunk in texts:
            for number, kind, excerpt in _hits_in_text(chunk, compiled):
                place = f"{where} line {number}".strip()
                hits.append(SecretHit(str(path), place, kind, excerpt))
    return hits


def find_secrets_in_image(image: str, folder: str = IMAGE_BENTO_PATH) -> list[SecretHit]:
    """`find_secrets` on the files under `folder` of a local image, without running it.

    Paths in the hits read `image:/folder/file`. Needs a Docker engine
    (`DockerUnavailableError` without one).
    """
    archive = image_folder_tar(image, folder)
    with tempfile.TemporaryDirectory(prefix="mlkit-image-") as scratch:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(scratch, filter="data")
        root = Path(scratch)
        top = PurePosixPath(folder).parent
        return [
            replace(hit, path=f"{image}:{top / Path(hit.path).relative_to(root).as_posix()}")
            for hit in find_secrets(root)
        ]


# --- supply chain: an SBOM, its audit, and a build policy (module 08) -------------------

SEVERITY_LEVELS = ("LOW", "MODERATE", "HIGH", "CRITICAL")  # the GitHub Advisory Database's
_PURL = re.compile(r"^pkg:pypi/(?P<name>[^@?#]+)@(?P<version>[^?#]+)")


def _tool(name: str, package: str) -> str:
    """The path of console script `name` next to this interpreter, or ScanningError."""
    found = Path(sys.executable).with_name(name)
    if not found.is_file():
        raise ScanningError(
            f"{name} is not installed next to {sys.executable}: install the PyPI package "
            f"{package} (`pip install -e .` in the kit's folder pins it)."
        )
    return str(found)


def make_sbom(requirements: list[str] | str | os.PathLike, sbom_path: str | os.PathLike) -> Path:
    """A CycloneDX 1.6 JSON SBOM of pinned requirements (lines or a requirements file),
    written by `cyclonedx-py requirements` to `sbom_path`; returns that path.

    The SBOM lists each package as a component with its PyPI package URL
    (`pkg:pypi/name@version`); `--output-reproducible` leaves out the serial number and
    timestamp, so the same pins give the same file.
    """
    out = Path(sbom_path)
    command = _tool("cyclonedx-py", "cyclonedx-bom")
    with tempfile.TemporaryDirectory(prefix="mlkit-sbom-") as folder:
        source = _requirement_files(requirements, Path(folder))
        done = subprocess.run(
            [command, "requirements", str(source), "--of", "JSON", "-o", str(out),
             "--output-reproducible", "--no-validate"],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
    if done.returncode != 0 or not out.is_file():
        raise ScanningError(
            f"cyclonedx-py could not write an SBOM of {requirements!r:.120} "
            f"(exit {done.returncode}): {done.stderr.strip()[-500:]}"
        )
    return out


def sbom_pins(sbom: str | os.PathLike | dict[str, Any]) -> list[str]:
    """The `name==version` of every PyPI component of a CycloneDX JSON SBOM (a path or the
    parsed document), from each component's package URL."""
    document = sbom if isinstance(sbom, dict) else _read_json(_existing_path(sbom, "sbom"), "sbom")
    if document.get("bomFormat") != "CycloneDX" or not isinstance(document.get("components"), list):
        raise ValueError(
            "sbom: expected a CycloneDX JSON document with a 'components' list "
            f"(bomFormat 'CycloneDX'), got keys {sorted(document)[:8]}."
        )
    pins = []
    for component in document["components"]:
        match = _PURL.match(str(component.get("purl", "")))
        if match:
            pins.append(f"{match['name']}=={match['version']}")
    return sorted(pins)


def _read_json(path: Path, argument: str) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{argument}: {path} is not JSON: {err}") from err
    if not isinstance(loaded, dict):
        raise ValueError(
            f"{argument}: {path} holds a JSON {type(loaded).__name__}, expected an object."
        )
    return loaded


def audit_sbom(
    sbom: str | os.PathLike | dict[str, Any], *, advisories: str | os.PathLike | None = None
) -> dict[str, Any]:
    """pip-audit's JSON report (`pip-audit -f json --desc --aliases`) of an SBOM's components,
    audited offline against the advisory snapshot (see `audit_requirements`)."""
    pins = sbom_pins(sbom)
    service = SnapshotService(load_advisories(advisories))
    with tempfile.TemporaryDirectory(prefix="mlkit-audit-") as folder:
        source = RequirementSource(
            [_requirement_files(pins, Path(folder))], no_deps=True, disable_pip=True
        )
        audited = dict(Auditor(service).audit(source))
    return dict(json.loads(JsonFormat(output_desc=True, output_aliases=True).format(audited, [])))


def pip_audit_report(
    requirements: list[str] | str | os.PathLike, *, timeout: float = 120
) -> dict[str, Any]:
    """What the `pip-audit` command reports for pinned requirements, asking PyPI's
    vulnerability service over the network (`-f json --desc --aliases`, no resolution).

    A package pip-audit could not look up is in the report with a `skip_reason`, not an
    error: `dependency_policy` treats it as a failure. Raises ScanningError when
    pip-audit itself fails (no network at all, for instance).
    """
    command = _tool("pip-audit", "pip-audit")
    with tempfile.TemporaryDirectory(prefix="mlkit-pip-audit-") as folder:
        source = _requirement_files(requirements, Path(folder))
        done = subprocess.run(
            [command, "-r", str(source), "--no-deps", "--disable-pip", "-f", "json", "--desc",
             "--aliases", "--progress-spinner", "off", "--cache-dir", str(Path(folder) / "cache")],
            capture_output=True, text=True, check=False, timeout=timeout, cwd=folder,
        )  # fmt: skip
    # pip-audit exits 1 when it finds vulnerabilities; a report on stdout is what counts.
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise ScanningError(
            f"pip-audit gave no JSON report (exit {done.returncode}): {done.stderr.strip()[-500:]}"
        ) from err
    if not isinstance(report, dict) or "dependencies" not in report:
        raise ScanningError(f"pip-audit's report has no 'dependencies': {str(report)[:200]}")
    return dict(report)


def advisory_severities(advisories: str | os.PathLike | None = None) -> dict[str, str]:
    """Each advisory id and alias of the snapshot, mapped to its severity (LOW, MODERATE,
    HIGH or CRITICAL, the GitHub Advisory Database's `database_specific.severity`)."""
    found = {}
    for record in load_advisories(advisories):
        level = str(record.get("database_specific", {}).get("severity", "")).upper()
        if level in SEVERITY_LEVELS:
            for name in [record["id"], *record.get("aliases", [])]:
                found[name] = level
    return found


@dataclass(frozen=True)
class PolicyDecision:
    """A build policy's verdict on an audit report: pass or fail, and why."""

    passed: bool
    fail_on: str
    blocking: tuple[str, ...]  # one line per reason the build fails
    allowed: tuple[str, ...]  # findings below the threshold, reported but not blocking


def dependency_policy(
    report: dict[str, Any],
    *,
    fail_on: str = "HIGH",
    severities: dict[str, str] | None = None,
) -> PolicyDecision:
    """Fail the build when pip-audit's JSON `report` has a finding of `fail_on` severity or
    worse, a finding whose severity is unknown, or a package it could not audit.

    pip-audit's report names advisories but not their severity: `severities` maps ids and
    aliases to LOW, MODERATE, HIGH or CRITICAL (default: the snapshot's,
    `advisory_severities()`). Unknown is treated as the worst: a policy fails closed.
    """
    threshold = str(fail_on).upper()
    if threshold not in SEVERITY_LEVELS:
        raise ValueError(f"fail_on: got {fail_on!r}, expected one of {SEVERITY_LEVELS}.")
    dependencies = report.get("dependencies") if isinstance(report, dict) else None
    if not isinstance(dependencies, list):
        raise ValueError(
            "report: expected pip-audit's JSON report, an object with a 'dependencies' list "
            "(pip-audit -f json)."
        )
    known = advisory_severities() if severities is None else severities
    blocking, allowed = [], []
    for dependency in dependencies:
        name = dependency.get("name", "?")
        if "skip_reason" in dependency:
            blocking.append(f"{name}: not audited ({dependency['skip_reason']})")
            continue
        for vuln in dependency.get("vulns", []):
            ids = [vuln["id"], *vuln.get("aliases", [])]
            level = next((known[i] for i in ids if i in known), None)
            line = (
                f"{name}=={dependency.get('version')}: {vuln['id']} ({level or 'severity unknown'})"
            )
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version"
            line += f", fixed in {fixed}"
            if level is None or SEVERITY_LEVELS.index(level) >= SEVERITY_LEVELS.index(threshold):
                blocking.append(line)
            else:
                allowed.append(line)
    return PolicyDecision(not blocking, threshold, tuple(blocking), tuple(allowed))
