"""The `mlkit` command line: `mlkit doctor`, `mlkit assign`, `mlkit grade`."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="mlkit: the course kit's command line (doctor, assign, grade).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """mlkit: check your machine, generate labs from solutions, grade submissions."""


@app.command()
def doctor(
    require_docker: bool = typer.Option(
        False, "--require-docker", help="Treat a missing Docker engine as a failure."
    ),
) -> None:
    """Check this machine for the course; exit 1 when something required is missing."""
    from mlkit.doctor import run_doctor

    raise typer.Exit(0 if run_doctor(require_docker=require_docker) else 1)


if __name__ == "__main__":
    app()
