"""The end of a log file, as a person wants to read it."""

from __future__ import annotations

import re
from pathlib import Path

COLOUR_CODE = re.compile(r"\x1b\[[0-9;]*m")


def tail_lines(path: Path, n: int = 20) -> str:
    """The last n lines of a log file without terminal colour codes ('' if it is missing)."""
    if not path.exists():
        return ""
    lines = COLOUR_CODE.sub("", path.read_text(errors="replace")).splitlines()
    return "\n".join(lines[-n:])
