"""Optional extras: packages a section needs that `make setup` does not install.

An extra is named in pyproject.toml's `[project.optional-dependencies]`. A notebook asks
`available(name)` before its optional section; when the extra is missing it prints what
the section needs and the command that installs it, and the section skips itself.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Extra:
    """One optional extra: the modules it provides and what it is for."""

    name: str
    modules: tuple[str, ...]
    packages: tuple[str, ...]
    purpose: str
    size: str

    @property
    def install_command(self) -> str:
        """The command that installs it into the project's environment."""
        return f".venv/bin/pip install -e '.[{self.name}]'"


EXTRAS: dict[str, Extra] = {
    "tensorflow": Extra(
        name="tensorflow",
        modules=("tensorflow", "tf2onnx"),
        packages=("tensorflow-cpu", "tf2onnx"),
        purpose="TensorFlow SavedModel, saved_model_cli and tf2onnx (course 01 §12)",
        size="about 1.3 GB",
    ),
}


def get_extra(name: str) -> Extra:
    """The extra called `name`; a clear error naming the known ones otherwise."""
    try:
        return EXTRAS[name]
    except KeyError:
        known = ", ".join(sorted(EXTRAS))
        raise ValueError(f"extra: got {name!r}, expected one of: {known}.") from None


def missing_modules(name: str) -> list[str]:
    """The modules of extra `name` that cannot be imported here (empty: installed)."""
    modules = get_extra(name).modules
    return [module for module in modules if importlib.util.find_spec(module) is None]


def available(name: str, *, say: bool = True) -> bool:
    """True when every module of extra `name` is installed; otherwise, with `say`, print
    what is missing, what it is for and how to install it, and return False."""
    missing = missing_modules(name)
    if missing and say:
        wanted = get_extra(name)
        print(
            f"The optional extra '{name}' is not installed (missing: {', '.join(missing)}), "
            f"so this section is skipped. It provides {wanted.purpose}, {wanted.size}. "
            f"Install it with `{wanted.install_command}` from the project folder, "
            "then restart the kernel."
        )
    return not missing
