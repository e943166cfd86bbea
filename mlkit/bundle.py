"""A model bundle: the model, its dependency pins and metadata, verified by sha256 on load.

Introduced in module 01. A bundle is a folder of three files:

    model.skops        the model, saved with skops (loading it runs no code)
    requirements.txt   the library versions it was saved with, as pip pins
    metadata.json      library versions, training-data hash, metrics, creation time,
                       and the sha256 of the two files above

`load_bundle` checks every recorded sha256 (`BundleIntegrityError`) and the library
versions (`BundleVersionError`) before it deserializes anything. The hash catches
corruption and careless edits; whoever can rewrite the model can also rewrite
metadata.json, which is why module 08 signs it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from numbers import Real
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io

from mlkit.errors import MlkitError

MODEL_FILE = "model.skops"
REQUIREMENTS_FILE = "requirements.txt"
METADATA_FILE = "metadata.json"
PINNED_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "skops")


class BundleError(MlkitError):
    """A folder is not a readable model bundle."""


class BundleIntegrityError(BundleError):
    """A file of a bundle is missing or differs from the sha256 recorded when it was saved."""

    def __init__(self, path: Path, file: str, expected: str, found: str) -> None:
        self.path, self.file, self.expected, self.found = path, file, expected, found
        super().__init__(
            f"{file} in bundle {path} is not the file that was saved: metadata.json expects "
            f"sha256 {expected}, found {found}. The file changed after save_bundle() wrote it "
            "(corruption or tampering), so it was not loaded. Rebuild the bundle from the "
            "training run or fetch it again from a source you trust."
        )


class BundleVersionError(BundleError):
    """A bundle was saved with library versions other than the installed ones."""

    def __init__(self, path: Path, mismatches: dict[str, tuple[str, str]]) -> None:
        self.path, self.mismatches = path, mismatches
        listed = ", ".join(
            f"{name} {saved} (installed: {installed})"
            for name, (saved, installed) in mismatches.items()
        )
        super().__init__(
            f"Bundle {path} was saved with {listed}. A model loaded under other library "
            "versions can fail or predict differently. Install the saved versions "
            f"(pip install -r {path / REQUIREMENTS_FILE}) or retrain and save a new bundle; "
            "load_bundle(..., check_versions=False) loads it anyway, with a warning."
        )


@dataclass
class Bundle:
    """A loaded bundle: the model, its metadata and the folder it came from."""

    model: Any
    metadata: dict[str, Any]
    path: Path


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file's bytes, as 64 hex digits."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def data_sha256(df: pd.DataFrame) -> str:
    """A sha256 of a DataFrame's column names, dtypes and values, row order included."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}.")
    digest = hashlib.sha256(
        json.dumps([list(map(str, df.columns)), list(map(str, df.dtypes))]).encode()
    )
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def library_versions(packages: tuple[str, ...] = PINNED_PACKAGES) -> dict[str, str]:
    """The installed version of each package, by distribution name."""
    return {name: version(name) for name in packages}


def _installed_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _check_metrics(metrics: dict[str, float]) -> dict[str, float]:
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and isinstance(v, Real) and not isinstance(v, bool)
        for k, v in metrics.items()
    ):
        raise TypeError(
            f"metrics must map names to numbers, e.g. {{'roc_auc': 0.82}}, got {metrics!r}."
        )
    return {k: float(v) for k, v in metrics.items()}


def save_bundle(
    model: Any,
    folder: Path | str,
    *,
    training_data: pd.DataFrame,
    metrics: dict[str, float],
    overwrite: bool = False,
) -> Path:
    """Write `model` as a bundle into `folder` (created); return the folder.

    `training_data` is hashed, not stored: the hash tells later which rows the model
    saw. `metrics` (name to number) are stored as they are. An existing non-empty
    folder is refused unless `overwrite=True`.
    """
    folder = Path(folder)
    metrics = _check_metrics(metrics)
    data_hash = data_sha256(training_data)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(
            f"folder {folder} already holds files; pass overwrite=True to replace the bundle "
            "or choose a new folder."
        )
    folder.mkdir(parents=True, exist_ok=True)
    versions = library_versions()
    skops.io.dump(model, folder / MODEL_FILE)
    pins = "".join(f"{name}=={v}\n" for name, v in versions.items())
    (folder / REQUIREMENTS_FILE).write_text(pins)
    metadata = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_type": f"{type(model).__module__}.{type(model).__qualname__}",
        "python": platform.python_version(),
        "versions": versions,
        "training_data": {"sha256": data_hash, "rows": len(training_data)},
        "metrics": metrics,
        "files": {name: file_sha256(folder / name) for name in (MODEL_FILE, REQUIREMENTS_FILE)},
    }
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return folder


def read_metadata(folder: Path | str) -> dict[str, Any]:
    """The metadata.json of a bundle, unverified; `BundleError` if it is missing or unreadable."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        raise BundleError(
            f"{folder} has no {METADATA_FILE}: it is not a folder save_bundle() wrote."
        )
    try:
        metadata = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path} is not valid JSON ({err}); the bundle is damaged.") from err
    if not isinstance(metadata, dict) or MODEL_FILE not in metadata.get("files", {}):
        raise BundleError(
            f"{path} does not record the sha256 of {MODEL_FILE} under 'files'; "
            "the bundle is damaged or was not written by save_bundle()."
        )
    return metadata


def verify_bundle(folder: Path | str, *, check_versions: bool = True) -> dict[str, Any]:
    """Check every recorded sha256 and the library versions; return the metadata.

    Raises `BundleIntegrityError` for a missing or changed file and `BundleVersionError`
    when installed versions differ from the saved ones (only a warning with
    `check_versions=False`).
    """
    folder = Path(folder)
    metadata = read_metadata(folder)
    for name, expected in metadata["files"].items():
        path = folder / name
        found = file_sha256(path) if path.is_file() else "no such file"
        if found != expected:
            raise BundleIntegrityError(folder, name, expected, found)
    mismatches = {
        name: (saved, installed)
        for name, saved in metadata.get("versions", {}).items()
        if (installed := _installed_version(name)) != saved
    }
    if mismatches:
        error = BundleVersionError(folder, mismatches)
        if check_versions:
            raise error
        warnings.warn(str(error), stacklevel=2)
    return metadata


def load_bundle(
    folder: Path | str, *, trusted: list[str] | None = None, check_versions: bool = True
) -> Bundle:
    """Verify a bundle (`verify_bundle`), then load its model with skops.

    `trusted` lists the extra types skops may load (see `skops.io.get_untrusted_types`);
    the default trusts only skops' built-in safe set, which covers module 00's pipeline.
    """
    folder = Path(folder)
    metadata = verify_bundle(folder, check_versions=check_versions)
    model = skops.io.load(folder / MODEL_FILE, trusted=trusted)
    return Bundle(model=model, metadata=metadata, path=folder)
