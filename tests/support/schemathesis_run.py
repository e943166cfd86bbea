"""Run schemathesis's command line against a served API, the way CI checks a contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MAX_EXAMPLES = 30  # per operation and phase: a bounded run of seconds per service
SEED = 0


def run_schemathesis(
    schema_url: str, folder: Path, *options: str, max_examples: int = MAX_EXAMPLES
) -> subprocess.CompletedProcess[str]:
    """`schemathesis run schema_url --checks all`, seeded and bounded, run in `folder`.

    `options` go to the command line as they are (`--header`, `--tls-verify`, ...). The
    result holds the exit code (0: no failure) and the printed report with its summary.
    """
    command = [sys.executable, "-m", "schemathesis.cli", "run", schema_url, "--checks", "all"]
    command += ["--max-examples", str(max_examples), "--seed", str(SEED), "--workers", "1"]
    command += ["--no-color", "--generation-database", "none", "--request-timeout", "20"]
    return subprocess.run(
        [*command, *options], cwd=folder, capture_output=True, text=True, timeout=600, check=False
    )
