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
    from mlkit.checkup import run_doctor

    raise typer.Exit(0 if run_doctor(require_docker=require_docker) else 1)


@app.command()
def manifests(
    image: str = typer.Argument(..., help="The image to run, e.g. churn:pr3nx6hi2srkyax4."),
    name: str = typer.Option(..., "--name", help="Name of the Deployment, Service and HPA."),
    port: int = typer.Option(3000, help="The port the container listens on."),
    replicas: int = typer.Option(2, help="Replicas before the autoscaler acts."),
    memory_request: str = typer.Option("512Mi", help="Memory each pod is guaranteed."),
    memory_limit: str = typer.Option("1Gi", help="Memory above which a pod is killed."),
    cpu_request: str = typer.Option("500m", help="CPU each pod is guaranteed."),
    cpu_limit: str = typer.Option("1", help="CPU above which a pod is throttled."),
    min_replicas: int = typer.Option(2, help="Fewest replicas the autoscaler keeps."),
    max_replicas: int = typer.Option(10, help="Most replicas the autoscaler starts."),
    output: str = typer.Option("-", "--output", "-o", help="File to write; '-' prints."),
) -> None:
    """Write a Deployment, Service and HorizontalPodAutoscaler for IMAGE, validated (module 03)."""
    from pathlib import Path

    from mlkit import k8s

    try:
        objects = k8s.service_manifests(
            name,
            image,
            port=port,
            replicas=replicas,
            cpu_request=cpu_request,
            cpu_limit=cpu_limit,
            memory_request=memory_request,
            memory_limit=memory_limit,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )
        checked = k8s.validate_manifests(objects)
    except ValueError as err:  # ManifestError is a ValueError too
        typer.echo(f"mlkit manifests: {err}", err=True)
        raise typer.Exit(1) from None
    text = k8s.manifests_yaml(objects)
    if output == "-":
        typer.echo(text, nl=False)
    else:
        Path(output).write_text(text)
        typer.echo(f"wrote {output}: " + ", ".join(checked), err=True)


if __name__ == "__main__":
    app()
