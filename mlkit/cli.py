"""The `mlkit` command line: `doctor`, `assign`, `grade`, `cluster`, `manifests` and `serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

TYPE_NAMES: dict[object, str] = {str: "TEXT", int: "INTEGER", float: "FLOAT"}


class PlainHelpCommand(TyperCommand):
    """A command whose --help reads the usual way: `SUBMISSIONS`, `--out TEXT`, `--force`.

    Typer 0.29's own help writes a required argument as `{submissions}` and every
    parameter with a type in angle brackets, flags included (`--force <bool>`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name == "argument":
                param.metavar = param.metavar or param.name.upper()  # errors name it so too
            elif not (getattr(param, "is_flag", False) or getattr(param, "count", False)):
                annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
                param.metavar = param.metavar or TYPE_NAMES.get(annotation, "VALUE")

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """`[OPTIONS]` and the arguments in capitals."""
        arguments = [p for p in self.get_params(ctx) if p.param_type_name == "argument"]
        return [self.options_metavar or "", *(_argument_name(p) for p in arguments)]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """An Arguments section (names in capitals) and an Options section."""
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                sections["Arguments"].append((_argument_name(param), record[1]))
            else:
                sections["Options"].append(record)
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _argument_name(param: Any) -> str:
    name = param.metavar if param.required else f"[{param.metavar}]"
    return name + ("..." if param.nargs != 1 else "")


app = typer.Typer(
    help="mlkit: the course kit's command line (doctor, assign, grade, manifests, serve).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def main() -> None:
    """mlkit: check your machine, generate labs, grade submissions, write Kubernetes manifests,
    serve replicas behind a load balancer."""


@app.command(cls=PlainHelpCommand)
def doctor(
    require_docker: bool = typer.Option(
        False, "--require-docker", help="Treat a missing Docker engine as a failure."
    ),
) -> None:
    """Check this machine for the course; exit 1 when something required is missing."""
    from mlkit.checkup import run_doctor

    raise typer.Exit(0 if run_doctor(require_docker=require_docker) else 1)


@app.command(cls=PlainHelpCommand)
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


@app.command(cls=PlainHelpCommand)
def assign(
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 naming each lab that is out of date."
    ),
    solutions: str = typer.Option("", help="Folder of solution notebooks (default solutions/)."),
    labs: str = typer.Option("", help="Folder to write labs into (default labs/)."),
) -> None:
    """Write labs/NN_*.ipynb from solutions/NN_*.ipynb (answers, hidden tests, outputs removed)."""
    from mlkit.grading.exceptions import GradingError
    from mlkit.grading.labs import assign as assign_labs

    try:
        result = assign_labs(
            Path(solutions) if solutions else None, Path(labs) if labs else None, check=check
        )
    except GradingError as err:
        typer.echo(f"mlkit assign: {err}", err=True)
        raise typer.Exit(2) from None
    for path in result.written:
        typer.echo(f"wrote {path}")
    for line in result.differing:
        typer.echo(f"mlkit assign: {line}", err=True)
    if result.differing:
        hint = "run `mlkit assign`" if check else "delete labs that have no solution"
        typer.echo(f"mlkit assign: labs/ is out of date; {hint}.", err=True)
        raise typer.Exit(1)
    if check:
        typer.echo(f"labs/ matches solutions/ ({len(result.unchanged)} notebooks)")


@app.command(cls=PlainHelpCommand)
def grade(
    submissions: str = typer.Argument(
        ..., help="Folder of submissions: <learner>/NN_*.ipynb, or flat <learner>.ipynb files."
    ),
    assignment: str = typer.Option(..., "--assignment", "-a", help="Module number, e.g. 00."),
    out: str = typer.Option(..., "--out", "-o", help="Folder for gradebook, results, feedback."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Submissions graded at once."),
    sandbox: str = typer.Option("process", help="Isolation: process (default) or docker."),
    timeout: float = typer.Option(600, help="Wall-clock seconds a notebook may run."),
    cell_timeout: float = typer.Option(120, help="Seconds one cell may run before interrupt."),
    memory_mb: int = typer.Option(2048, help="Memory limit of a submission, in MB."),
    force: bool = typer.Option(False, "--force", help="Regrade submissions graded before."),
    solutions: str = typer.Option("", help="Folder of solution notebooks (default solutions/)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    cluster: str = typer.Option(
        "", help="Grade on the Dask cluster at this scheduler address (tls://host:8786)."
    ),
    certs: str = typer.Option(
        "", help="Folder of the cluster's TLS files (ca.pem, client.pem, client-key.pem)."
    ),
) -> None:
    """Grade SUBMISSIONS of one assignment: gradebook.csv, results.json, feedback/<learner>.html."""
    from mlkit.grading.exceptions import GradingError
    from mlkit.grading.grader import grade as grade_submissions
    from mlkit.grading.limits import GradingLimits

    try:
        tls = None
        if certs:
            from mlkit.grading.cluster import ClusterTLS

            tls = ClusterTLS.from_folder(certs)
        limits = GradingLimits(timeout=timeout, cell_timeout=cell_timeout, memory_mb=memory_mb)
        report = grade_submissions(
            submissions,
            assignment,
            out,
            workers=workers,
            sandbox=sandbox,
            limits=limits,
            force=force,
            solutions=solutions or None,
            progress=progress,
            cluster=cluster or None,
            tls=tls,
        )
    except (GradingError, ValueError, OSError) as err:
        typer.echo(f"mlkit grade: {err}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo(
            "mlkit grade: interrupted. Finished submissions are saved; run the same command "
            "again to grade the rest.",
            err=True,
        )
        raise typer.Exit(130) from None
    typer.echo(report.summary())


cluster_app = typer.Typer(
    help="A Dask cluster for `mlkit grade --cluster`: its TLS certificates.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("certs", cls=PlainHelpCommand)
def cluster_certs(
    folder: str = typer.Argument(..., help="Folder to write the certificates and keys into."),
    host: Annotated[
        list[str] | None,
        typer.Option(metavar="HOST", help="The scheduler's IP or DNS name (repeatable)."),
    ] = None,
    days: int = typer.Option(365, min=1, help="Days the certificates are valid."),
) -> None:
    """Make a CA and certificates for a grading cluster's scheduler, workers and client."""
    from mlkit.crypto import make_tls_certs

    host = host or ["127.0.0.1"]
    try:
        files = make_tls_certs(folder, hosts=tuple(host), days=days)
    except (ValueError, OSError) as err:
        typer.echo(f"mlkit cluster certs: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {files.ca}")
    for pair in files.pairs.values():
        typer.echo(f"wrote {pair.cert} and {pair.key}")
    options = {
        role: f"--tls-ca-file {files.ca} --tls-cert {pair.cert} --tls-key {pair.key}"
        for role, pair in files.pairs.items()
    }
    typer.echo(
        "copy ca.pem with scheduler.pem/scheduler-key.pem to the scheduler's machine and "
        "ca.pem with worker.pem/worker-key.pem to each worker's, then:\n"
        f"  dask scheduler --protocol tls --host {host[0]} {options['scheduler']}\n"
        f"  dask worker tls://{host[0]}:8786 {options['worker']}\n"
        f"  mlkit grade SUBMISSIONS -a NN -o OUT --cluster tls://{host[0]}:8786 --certs {folder}"
    )


@app.command(cls=PlainHelpCommand)
def serve(
    replicas: int = typer.Option(3, "--replicas", "-n", min=1, max=16, help="Replicas to start."),
    balancer: str = typer.Option("haproxy", help="The load balancer in front (haproxy)."),
    port: int = typer.Option(0, help="The balancer's port on 127.0.0.1 (0: a free one)."),
    folder: str = typer.Option("", help="Folder for the service, configs and logs."),
    runtime: str = typer.Option(
        "process",
        help="How each replica runs: process, or container (needs Docker; the first run "
        "builds the service's image).",
    ),
) -> None:
    """Run the churn service as N replicas behind a load balancer until Ctrl-C (module 05)."""
    import signal
    import time

    from mlkit.errors import MlkitError
    from mlkit.scaling import serve_replicas

    try:
        cluster = serve_replicas(
            replicas, balancer=balancer, port=port or None, folder=folder or None, runtime=runtime
        )
    except (MlkitError, ValueError, OSError) as err:
        typer.echo(f"mlkit serve: {err}", err=True)
        raise typer.Exit(1) from None
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the replicas too, like Ctrl-C
    with cluster:
        for name, replica_port in cluster.replicas.ports.items():
            where = cluster.replicas.runtime.describe(cluster.replicas.get(name).service)
            typer.echo(f"{name}: http://127.0.0.1:{replica_port} ({where})")
        typer.echo(f"{balancer} config: {cluster.balancer.config_path}")
        kind = "container replicas" if runtime == "container" else "replicas"
        typer.echo(f"serving {cluster.url} ({replicas} {kind} behind {balancer}); Ctrl-C stops")
        try:
            while cluster.balancer.is_running():
                time.sleep(0.5)
        except KeyboardInterrupt:
            typer.echo("stopping the balancer and the replicas", err=True)
            return
    typer.echo(f"mlkit serve: {balancer} exited; log: {cluster.balancer.log_path}", err=True)
    raise typer.Exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    app()
