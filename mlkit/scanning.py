"""Security scanners: bandit on code, pip-audit on pins, and a secret finder (module 08).

`bandit_findings` runs bandit (static analysis of Python source) as a subprocess and
reads its JSON report. `audit_requirements` runs pip-audit as a library on a list of
pinned requirements; instead of asking PyPI or OSV over the network, its vulnerability
service reads an OSV-format advisory snapshot shipped in `mlkit/data_files/`, so the
lesson runs offline (on a connected machine, `pip-audit -r requirements.txt` queries
the live databases). `find_secrets` looks for secret-looking strings in text files,
notebooks (sources and outputs) and logs.
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
