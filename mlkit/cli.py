"""The `mlkit` command line: `doctor`, `assign`, `grade`, `site`, `cluster` (certs, check, local,
slurm, k8s), `manifests`, `serve`, `registry` (train, gate, champion, serve, export, scan),
and a class on JupyterHub: `hub-config`, `exchange` and the calls to it (`release`, `fetch`,
`submit`, `submissions`, `collect`, `return-feedback`, `feedback`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from mlkit.errors import MlkitError

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
    help=(
        "mlkit: the course kit's command line (doctor, assign, grade, manifests, serve, "
        "and the class exchange)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def main() -> None:
    """mlkit: check your machine, generate labs, grade submissions, write Kubernetes manifests,
    serve replicas behind a load balancer, hand labs out and in through a class hub."""


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
    help=(
        "A Dask cluster for `mlkit grade --cluster`: certificates, a check, one on this "
        "machine, SLURM, Kubernetes."
    ),
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


def _tls_or_exit(certs: str, command: str) -> Any:
    """ClusterTLS of the client in certs ('' -> None), or exit 2 saying what is missing."""
    from mlkit.grading.cluster import ClusterTLS
    from mlkit.grading.exceptions import ClusterError

    try:
        return ClusterTLS.from_folder(certs) if certs else None
    except ClusterError as err:
        typer.echo(f"mlkit cluster {command}: {err}", err=True)
        raise typer.Exit(2) from None


def _wait_for_ctrl_c(alive: Any = None) -> None:
    """Sleep until Ctrl-C or SIGTERM (or until alive() is False)."""
    import signal
    import time

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while alive is None or alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        typer.echo("stopping", err=True)


@cluster_app.command("check", cls=PlainHelpCommand)
def cluster_check(
    address: str = typer.Argument(..., help="The scheduler, e.g. tls://10.0.0.5:8786."),
    assignment: str = typer.Option("00", "--assignment", "-a", help="Module number, e.g. 03."),
    certs: str = typer.Option("", help="Folder of the cluster's TLS files (mlkit cluster certs)."),
    sandbox: str = typer.Option("process", help="The sandbox the run will use: process, docker."),
) -> None:
    """Check that the cluster at ADDRESS can grade an assignment: list its workers."""
    from mlkit.grading.assignment import find_assignment, read_assignment
    from mlkit.grading.cluster import ClusterRun
    from mlkit.grading.exceptions import GradingError
    from mlkit.settings import solutions_dir

    tls = _tls_or_exit(certs, "check")
    try:
        spec = read_assignment(find_assignment(solutions_dir(), assignment))
        run = ClusterRun(address, spec, sandbox, tls)
    except (GradingError, ValueError, OSError) as err:
        typer.echo(f"mlkit cluster check: {err}", err=True)
        raise typer.Exit(2) from None
    try:
        for line in run.describe():
            typer.echo(line)
    finally:
        run.close()


@cluster_app.command("local", cls=PlainHelpCommand)
def cluster_local(
    workers: int = typer.Option(2, "--workers", "-n", min=1, max=16, help="Worker processes."),
    docker: bool = typer.Option(False, "--docker", help="Give the workers the docker resource."),
    certs: str = typer.Option("", help="Use TLS with these certificates (mlkit cluster certs)."),
    port: int = typer.Option(0, help="The scheduler's port on 127.0.0.1 (0: a free one)."),
) -> None:
    """Run a scheduler and workers on 127.0.0.1 until Ctrl-C, to try `mlkit grade --cluster`."""
    import uuid

    from mlkit.grading.loopback_cluster import LoopbackCluster
    from mlkit.settings import scratch_dir

    _tls_or_exit(certs, "local")  # the files are there
    folder = scratch_dir("cluster-local", uuid.uuid4().hex[:8])
    cluster = LoopbackCluster(folder, Path(certs).resolve() if certs else None)
    try:
        cluster.start_scheduler(port or None)
        names = [f"local-{index}" for index in range(1, workers + 1)]
        cluster.start_workers(*names, resources="docker=1" if docker else None)
        certs_option = f" --certs {certs}" if certs else ""
        typer.echo(f"scheduler {cluster.address} with {workers} worker(s); logs in {folder}")
        typer.echo(f"  mlkit cluster check {cluster.address}{certs_option}")
        typer.echo(
            f"  mlkit grade SUBMISSIONS -a NN -o OUT --cluster {cluster.address}{certs_option}"
        )
        typer.echo("Ctrl-C stops the scheduler and the workers")
        _wait_for_ctrl_c(cluster.is_running)
    except (MlkitError, OSError) as err:
        typer.echo(f"mlkit cluster local: {err}", err=True)
        raise typer.Exit(1) from None
    finally:
        cluster.stop()


@cluster_app.command("slurm", cls=PlainHelpCommand)
def cluster_slurm(
    host: str = typer.Option(..., help="This login node's address, as compute nodes reach it."),
    certs: str = typer.Option(..., help="Folder of the TLS files (mlkit cluster certs --host)."),
    jobs: int = typer.Option(4, min=1, help="Batch jobs, one worker each."),
    cores: int = typer.Option(2, min=1, help="Cores per job: submissions a worker grades at once."),
    memory: str = typer.Option("8GB", help="Memory per job."),
    walltime: str = typer.Option("02:00:00", help="Wall time per job."),
    queue: str = typer.Option("", help="SLURM partition (#SBATCH -p)."),
    account: str = typer.Option("", help="SLURM account (#SBATCH -A)."),
    docker: bool = typer.Option(False, "--docker", help="The nodes have a Docker engine."),
    port: int = typer.Option(8786, min=0, help="The scheduler's port on HOST (0: a free one)."),
    prologue: Annotated[
        list[str] | None,
        typer.Option(metavar="LINE", help="Shell line before the worker starts (repeatable)."),
    ] = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the batch script; submit none."),
) -> None:
    """Run a grading cluster on SLURM (dask-jobqueue) until Ctrl-C: the scheduler here, the
    workers as batch jobs."""
    from mlkit.grading.cluster_deploy import SlurmSettings, slurm_cluster

    settings = SlurmSettings(
        host=host, jobs=jobs, cores=cores, memory=memory, walltime=walltime,
        queue=queue or None, account=account or None, docker=docker, port=port,
        prologue=tuple(prologue or ()),
    )  # fmt: skip
    try:
        cluster = slurm_cluster(certs, settings)
    except (MlkitError, ValueError, OSError) as err:
        typer.echo(f"mlkit cluster slurm: {err}", err=True)
        raise typer.Exit(2) from None
    try:
        if dry_run:
            typer.echo(cluster.job_script())
            return
        cluster.scale(jobs=jobs)
        address = cluster.scheduler_address
        typer.echo(f"scheduler {address}, dashboard {cluster.dashboard_link}")
        typer.echo(f"submitted {jobs} job(s) named mlkit-grader (squeue --name mlkit-grader)")
        typer.echo(f"  mlkit cluster check {address} --certs {certs}")
        typer.echo(f"  mlkit grade SUBMISSIONS -a NN -o OUT --cluster {address} --certs {certs}")
        typer.echo("Ctrl-C cancels the jobs and stops the scheduler")
        _wait_for_ctrl_c()
    finally:
        cluster.close()


@cluster_app.command("k8s", cls=PlainHelpCommand)
def cluster_k8s(
    image: str = typer.Option(..., help="Image of this kit (deploy/grading-worker/Dockerfile)."),
    out: str = typer.Option("dask-cluster.yaml", "--out", "-o", help="File to write."),
    workers: int = typer.Option(4, min=1, help="Worker pods."),
    cores: int = typer.Option(2, min=1, help="Cores per worker: submissions graded at once."),
    memory: str = typer.Option("8Gi", help="Memory per pod."),
    name: str = typer.Option("mlkit-grading", help="The DaskCluster's name."),
    namespace: str = typer.Option("default", help="Its namespace."),
    certificates: str = typer.Option("mlkit-grading-certs", help="Secret with the TLS files."),
) -> None:
    """Write a DaskCluster (Dask Kubernetes operator) of grading workers, checked offline."""
    from mlkit.grading.cluster_deploy import (
        KubernetesSettings,
        check_kubernetes_cluster,
        kubernetes_cluster,
    )
    from mlkit.k8s import manifests_yaml

    try:
        settings = KubernetesSettings(
            image=image, name=name, namespace=namespace, certificates=certificates,
            workers=workers, cores=cores, memory=memory,
        )  # fmt: skip
        resource = kubernetes_cluster(settings)
        check_kubernetes_cluster(resource)
        Path(out).write_text(manifests_yaml([resource]))
    except (MlkitError, ValueError, OSError) as err:
        typer.echo(f"mlkit cluster k8s: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {out} (pods and service checked against the Kubernetes schema)")
    typer.echo(
        f"  kubectl -n {namespace} create secret generic {certificates} --from-file=CERTS/\n"
        f"  kubectl apply -f {out}\n"
        f"  kubectl -n {namespace} port-forward service/{name}-scheduler 8786:8786\n"
        "  mlkit cluster check tls://127.0.0.1:8786 --certs CERTS"
    )


@app.command(cls=PlainHelpCommand)
def site(
    out: str = typer.Option("", help="Folder to build into (default <scratch>/site)."),
    execute: bool = typer.Option(
        False,
        "--execute",
        help="Run every course notebook that has no current executed copy (minutes; the "
        "Docker modules need MLKIT_BASE_IMAGE and an engine).",
    ),
) -> None:
    """Build the course site: course notebooks with outputs, labs, the instructor guide."""
    from mlkit.site import build_site

    try:
        built = build_site(Path(out) if out else None, execute=execute)
    except MlkitError as err:
        typer.echo(f"mlkit site: {err}", err=True)
        raise typer.Exit(1) from None
    if built.without_outputs:
        typer.echo(
            "mlkit site: published without outputs (no executed copy matches the notebook; "
            "`mlkit site --execute` runs them, or `make test` saves them): "
            + ", ".join(built.without_outputs),
            err=True,
        )
    typer.echo(f"wrote {len(built.pages)} pages: {built.html_dir / 'index.html'}")


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


# The model registry (mlkit/registry.py) and the steps of the retraining workflow
# (deploy/github/workflows/retrain.yml) that call it.

registry_app = typer.Typer(
    help=(
        "An MLflow model registry on SQLite: train and register a version, gate it against "
        "the champion, serve by alias, export and scan what goes into the image."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(registry_app, name="registry")

REGISTRY_OPTION = typer.Option(
    "",
    "--registry",
    envvar="MLKIT_REGISTRY",
    help="Folder of the registry's SQLite file and artifacts (default: <scratch>/mlflow).",
)
NAME_OPTION = typer.Option("churn", "--name", help="The registered model's name.")


def _registry_or_exit(folder: str, command: str) -> Any:
    from mlkit.registry import open_registry

    try:
        return open_registry(folder or None)
    except OSError as err:
        typer.echo(f"mlkit registry {command}: {err}", err=True)
        raise typer.Exit(2) from None


@registry_app.command("train", cls=PlainHelpCommand)
def registry_train(
    registry: str = REGISTRY_OPTION,
    name: str = NAME_OPTION,
    seed: int = typer.Option(42, help="Seed of the generated training data."),
    rows: int = typer.Option(5_000, min=100, help="Rows of training data."),
    drift: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Concept drift in the training data (0: none, 1: full)."
    ),
) -> None:
    """Train the churn model on fresh data, log and register it; print the new version."""
    from mlkit import churn_model, data
    from mlkit.registry import log_version

    reg = _registry_or_exit(registry, "train")
    frame = data.make_dataset(n_rows=rows, seed=seed)
    if drift:
        frame = data.inject_concept_drift(frame, drift, seed=seed)
    X_train, X_test, y_train, y_test = data.split(frame, test_size=0.25, seed=seed)
    model = churn_model.make_churn_pipeline().fit(X_train, y_train)
    metrics = churn_model.churn_metrics(model, X_test, y_test)
    version = log_version(reg, name, model, training_data=X_train, metrics=metrics)
    typer.echo(f"registered {name} version {version} (test roc_auc {metrics['roc_auc']})", err=True)
    typer.echo(version)


@registry_app.command("gate", cls=PlainHelpCommand)
def registry_gate(
    version: str = typer.Argument(..., help="The candidate version, e.g. 3."),
    registry: str = REGISTRY_OPTION,
    name: str = NAME_OPTION,
    metric: str = typer.Option("roc_auc", help="roc_auc or accuracy (higher is better)."),
    margin: float = typer.Option(0.005, min=0.0, help="How much the candidate must win by."),
    holdout_seed: int = typer.Option(2024, help="Seed of the held-out customers."),
    rows: int = typer.Option(4_000, min=100, help="Rows of held-out data."),
    drift: float = typer.Option(0.0, min=0.0, max=1.0, help="Concept drift of the held-out data."),
) -> None:
    """Move the alias "champion" to VERSION only if it beats the champion on held-out data;
    exit 1, saying why, when the gate refuses it."""
    from mlkit import data
    from mlkit.registry import RegistryError, promote_if_better

    reg = _registry_or_exit(registry, "gate")
    frame = data.make_dataset(n_rows=rows, seed=holdout_seed)
    if drift:
        frame = data.inject_concept_drift(frame, drift, seed=holdout_seed)
    try:
        result = promote_if_better(
            reg, name, version, frame[data.FEATURES], frame[data.TARGET],
            metric=metric, margin=margin,
        )  # fmt: skip
    except (RegistryError, ValueError) as err:
        typer.echo(f"mlkit registry gate: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result.reason)
    raise typer.Exit(0 if result.promoted else 1)


@registry_app.command("champion", cls=PlainHelpCommand)
def registry_champion(
    registry: str = REGISTRY_OPTION,
    name: str = NAME_OPTION,
    expect: str = typer.Option("", help="Exit 1 unless the champion is this version."),
) -> None:
    """Print the version the alias "champion" points to (exit 1 when there is none, or when
    it is not --expect: another run moved it)."""
    from mlkit.registry import RegistryError, champion_version

    reg = _registry_or_exit(registry, "champion")
    try:
        found = champion_version(reg, name)
    except RegistryError as err:
        typer.echo(f"mlkit registry champion: {err}", err=True)
        raise typer.Exit(2) from None
    if found is None or (expect and found != expect):
        said = "no champion" if found is None else f"the champion is version {found}"
        typer.echo(f"mlkit registry champion: {name} has {said}, expected {expect}.", err=True)
        raise typer.Exit(1)
    typer.echo(found)


@registry_app.command("serve", cls=PlainHelpCommand)
def registry_serve(
    registry: str = REGISTRY_OPTION,
    name: str = NAME_OPTION,
    alias: str = typer.Option("champion", help="The alias to serve."),
    rows: int = typer.Option(5, min=1, max=10_000, help="Customers to score."),
    seed: int = typer.Option(7, help="Seed of the customers to score."),
) -> None:
    """Load models:/NAME@ALIAS and score fresh customers: one JSON line a customer."""
    import json

    from mlflow.exceptions import MlflowException

    from mlkit import data
    from mlkit.registry import score_by_alias

    _registry_or_exit(registry, "serve")
    customers = data.make_dataset(n_rows=rows, seed=seed)[data.FEATURES]
    try:
        scores = score_by_alias(name, customers, alias)
    except MlflowException as err:
        typer.echo(f"mlkit registry serve: models:/{name}@{alias}: {err.message}", err=True)
        raise typer.Exit(1) from None
    for score in scores:
        typer.echo(json.dumps({"model": f"{name}@{alias}", "churn_probability": float(score)}))


@registry_app.command("export", cls=PlainHelpCommand)
def registry_export(
    out: str = typer.Argument(..., help="A new or empty folder for the model's files."),
    registry: str = REGISTRY_OPTION,
    name: str = NAME_OPTION,
    alias: str = typer.Option("champion", help="The alias to export."),
) -> None:
    """Copy the files of models:/NAME@ALIAS into OUT, for the image build."""
    from mlflow.exceptions import MlflowException

    from mlkit.registry import export_model

    _registry_or_exit(registry, "export")
    try:
        folder = export_model(name, out, alias)
    except (MlflowException, FileExistsError) as err:
        typer.echo(f"mlkit registry export: {getattr(err, 'message', err)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"exported {name}@{alias} to {folder}: " + ", ".join(sorted(
        p.name for p in folder.iterdir()
    )))  # fmt: skip


@registry_app.command("scan", cls=PlainHelpCommand)
def registry_scan(
    folder: str = typer.Argument(..., help="An exported model folder (mlkit registry export)."),
) -> None:
    """Audit an exported model's requirements (offline advisories) and look for secrets in
    its files; exit 1 when anything is found."""
    from mlkit.scanning import audit_requirements, find_secrets

    requirements = Path(folder) / "requirements.txt"
    if not requirements.is_file():
        typer.echo(f"mlkit registry scan: no requirements.txt in {folder}", err=True)
        raise typer.Exit(2)
    pins = [
        line.strip()
        for line in requirements.read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    ]
    try:
        vulnerable = audit_requirements(pins)
    except ValueError as err:
        typer.echo(f"mlkit registry scan: {requirements}: {err}", err=True)
        raise typer.Exit(2) from None
    secrets = find_secrets(folder)
    for found in vulnerable:
        typer.echo(f"vulnerable: {found.package} {found.version} ({found.id})")
    for hit in secrets:
        typer.echo(f"secret: {hit.path} {hit.where} ({hit.kind})")
    typer.echo(
        f"scanned {folder}: {len(pins)} pinned requirements, {len(vulnerable)} advisories, "
        f"{len(secrets)} secret-looking strings"
    )
    raise typer.Exit(1 if vulnerable or secrets else 0)


# A class on JupyterHub: the exchange service and the calls to it (mlkit/hub/).


@app.command(cls=PlainHelpCommand)
def exchange(
    data: str = typer.Option(
        ..., "--data", help="Folder of the exchange's database and notebooks."
    ),
    db_url: str = typer.Option(
        "",
        "--db-url",
        envvar="MLKIT_EXCHANGE_DB_URL",
        help="SQLAlchemy URL of the exchange's rows: postgresql+psycopg://USER:PASSWORD@HOST/DB"
        " (default: SQLite in --data).",
    ),
    max_bytes: int = typer.Option(5_000_000, "--max-bytes", min=1, help="Largest notebook."),
) -> None:
    """Run the class exchange as a JupyterHub service (the hub starts it; see hub-config)."""
    import logging
    import os

    from mlkit.hub.exchange import serve
    from mlkit.hub.store import StoreDatabaseError

    url = os.environ.get("JUPYTERHUB_SERVICE_URL", "")
    if not url or not os.environ.get("JUPYTERHUB_API_TOKEN"):
        typer.echo(
            "mlkit exchange: JUPYTERHUB_SERVICE_URL and JUPYTERHUB_API_TOKEN are not set; the "
            "exchange runs as a service of a JupyterHub (write its config with "
            "`mlkit hub-config`)",
            err=True,
        )
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/exchange/")
    try:
        serve(Path(data), db_url or None, url, prefix, max_bytes)
    except StoreDatabaseError as err:
        typer.echo(f"mlkit exchange: {err}", err=True)
        raise typer.Exit(2) from err


@app.command("hub-config", cls=PlainHelpCommand)
def hub_config(
    folder: str = typer.Argument(..., help="Folder for the hub's config, database and files."),
    port: int = typer.Option(8000, help="The hub's public port on 127.0.0.1."),
    instructor: Annotated[
        list[str] | None,
        typer.Option("--instructor", help="An instructor's hub name (repeat for each)."),
    ] = None,
    authenticator: str = typer.Option("pam", help="JupyterHub authenticator (pam, ...)."),
    exchange_db_url: str = typer.Option(
        "",
        "--exchange-db-url",
        envvar="MLKIT_EXCHANGE_DB_URL",
        help="The exchange's rows in this database, e.g. postgresql+psycopg://USER:PASSWORD@"
        "127.0.0.1/exchange (default: SQLite in FOLDER/exchange).",
    ),
) -> None:
    """Write FOLDER/jupyterhub_config.py: a class hub with the exchange and its roles."""
    from mlkit._runtime.net import free_port
    from mlkit.hub.config import HubSettings, write_hub_config

    settings = HubSettings(
        folder=Path(folder).resolve(),
        port=port,
        hub_port=free_port(),
        proxy_api_port=free_port(),
        exchange_port=free_port(),
        instructors=instructor or [],
        authenticator=authenticator,
        exchange_db_url=exchange_db_url or None,
    )
    path = write_hub_config(settings)
    typer.echo(f"wrote {path}\nstart the hub: jupyterhub -f {path}")


@app.command("hub", cls=PlainHelpCommand)
def class_hub(
    instructor: Annotated[
        list[str],
        typer.Option("--instructor", help="An instructor's hub name (repeat for each)."),
    ],
    folder: str = typer.Option(".hub", "--folder", help="The hub's config, database and files."),
    port: int = typer.Option(8000, help="The hub's public port on 127.0.0.1."),
    mem: str = typer.Option("2G", "--mem", help="Memory cap of each learner's server."),
    cpus: float = typer.Option(1.0, "--cpus", min=0.1, help="CPU cap of each learner's server."),
    cull_idle: int = typer.Option(
        3600, "--cull-idle", min=60, help="Stop a learner's server idle this many seconds."
    ),
) -> None:
    """Start a class hub on 127.0.0.1 (docs/class-hub.md) and run it until Ctrl+C: accounts
    approved by instructors, a container per learner, the exchange, the idle culler."""
    import time

    from mlkit._runtime.net import free_port
    from mlkit.hub.config import HubSettings, LearnerServers
    from mlkit.hub.image import learner_image
    from mlkit.hub.running import start_hub

    typer.echo("mlkit hub: the learner image (built the first time: many minutes)")
    try:
        image = learner_image()
        settings = HubSettings(
            folder=Path(folder).resolve(),
            port=port,
            hub_port=free_port(),
            proxy_api_port=free_port(),
            exchange_port=free_port(),
            instructors=instructor,
            learners=LearnerServers(
                image, mem_limit=mem, cpu_limit=cpus, cull_idle_seconds=cull_idle
            ),
        )
        process = start_hub(settings)
    except MlkitError as err:
        typer.echo(f"mlkit hub: {err}", err=True)
        raise typer.Exit(1) from None
    url = settings.url
    typer.echo(
        f"class hub at {url}/ (log: {process.log_path})\n"
        f"  everyone signs up at {url}/hub/signup; instructors ({', '.join(instructor)}) are\n"
        f"  approved at once, and approve learners at {url}/hub/authorize\n"
        "Ctrl+C stops the hub and the learners' servers (their volumes stay)."
    )
    try:
        while process.is_running():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        process.stop(grace=60)
    if process.returncode not in (0, None, -15):
        typer.echo(f"mlkit hub: the hub exited ({process.returncode}); see {process.log_path}")
        raise typer.Exit(1)


def _exchange() -> Any:
    from mlkit.hub.client import Exchange

    return Exchange.from_env()


def _run_exchange_call(command: str, call: Any) -> Any:
    try:
        return call()
    except (MlkitError, OSError) as err:
        typer.echo(f"mlkit {command}: {err}", err=True)
        raise typer.Exit(1) from None


@app.command(cls=PlainHelpCommand)
def release(
    notebook: str = typer.Argument(..., help="The lab to release, e.g. labs/00_welcome.ipynb."),
    due: str = typer.Option(..., "--due", help="Due date, ISO 8601 (2027-01-31T23:59+00:00)."),
    closes: str = typer.Option("", "--closes", help="Hard deadline: later submissions refused."),
) -> None:
    """Instructor: release a lab to the class exchange."""
    done = _run_exchange_call(
        "release", lambda: _exchange().release(Path(notebook), due, closes or None)
    )
    typer.echo(f"released lab {done['lab']} ({done['filename']}), due {done['due']}")


@app.command(cls=PlainHelpCommand)
def fetch(
    lab: str = typer.Argument(..., help="Lab number, e.g. 00."),
    home: str = typer.Option(".", "--to", help="Folder to copy it into."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace your copy of the lab."),
) -> None:
    """Copy a released lab into your folder (your own copy is kept unless --overwrite)."""
    path = _run_exchange_call(
        "fetch", lambda: _exchange().fetch(lab, Path(home), overwrite=overwrite)
    )
    typer.echo(f"lab {lab}: {path}")


@app.command(cls=PlainHelpCommand)
def submit(notebook: str = typer.Argument(..., help="Your lab notebook, NN_topic.ipynb.")) -> None:
    """Submit a lab notebook to the class exchange; print the receipt."""
    from mlkit.hub.client import submit as submit_notebook

    _run_exchange_call("submit", lambda: submit_notebook(notebook))


@app.command(cls=PlainHelpCommand)
def submissions() -> None:
    """List your own submissions: lab, time, sha256, late."""
    for r in _run_exchange_call("submissions", lambda: _exchange().submissions()):
        late = "  late" if r["late"] else ""
        typer.echo(f"{r['lab']}  {r['submitted_at']}  {r['sha256']}{late}")


@app.command(cls=PlainHelpCommand)
def collect(
    lab: str = typer.Argument(..., help="Lab number, e.g. 00."),
    out: str = typer.Option("submissions", "--out", help="Folder for <learner>/NN_topic.ipynb."),
) -> None:
    """Instructor: fetch the latest submission of every learner, in the layout `grade` reads."""
    receipts = _run_exchange_call("collect", lambda: _exchange().collect(lab, Path(out)))
    late = [r["learner"] for r in receipts if r["late"]]
    typer.echo(f"collected {len(receipts)} submission(s) of lab {lab} into {out}")
    if late:
        typer.echo(f"late: {', '.join(late)}")


@app.command("return-feedback", cls=PlainHelpCommand)
def return_feedback(
    lab: str = typer.Argument(..., help="Lab number, e.g. 00."),
    grading_out: str = typer.Argument(..., help="The --out folder of `mlkit grade`."),
) -> None:
    """Instructor: return each learner's feedback page to the exchange."""
    sent = _run_exchange_call(
        "return-feedback", lambda: _exchange().return_feedback(lab, Path(grading_out))
    )
    typer.echo(f"returned feedback of lab {lab} to {len(sent)} learner(s)")


@app.command(cls=PlainHelpCommand)
def feedback(
    lab: str = typer.Argument(..., help="Lab number, e.g. 00."),
    home: str = typer.Option(".", "--to", help="Folder to save NN-feedback.html in."),
) -> None:
    """Save your feedback page for a lab (open it in JupyterLab or a browser)."""
    path = _run_exchange_call("feedback", lambda: _exchange().feedback(lab, Path(home)))
    typer.echo(f"feedback: {path}")


if __name__ == "__main__":
    app()
