"""The grading kernel: a Python kernel started inside a sandbox, reached over unix sockets.

Whatever kernelspec a submission names, it runs on this one (the normalise step rewrites
the notebook's kernelspec too). The kernel talks ZeroMQ over `ipc` sockets in the job
folder rather than TCP, because the sandbox has no network: not even the grader's
127.0.0.1. Interrupts are sent as messages, which work across namespaces and containers.
Its clients check every message (mlkit.grading.channels), and of what the kernel process
writes to its own stdout and stderr the job folder keeps the first MAX_LOG_BYTES.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import IO, Any

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_core.utils import run_sync

from mlkit.grading.channels import GuardedKernelClient
from mlkit.grading.sandbox import Sandbox
from mlkit.grading.transforms.set_kernelspec import GRADING_KERNEL_NAME

KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]
MAX_LOG_BYTES = 2**20


class SandboxKernelSpecs(KernelSpecManager):
    """A kernelspec manager that knows one kernel: the sandbox's command."""

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sandbox_argv = argv

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        """The grading kernel's spec, whatever name is asked for."""
        return KernelSpec(
            name=GRADING_KERNEL_NAME,
            argv=self.sandbox_argv,
            display_name="Python 3 (mlkit grading)",
            language="python",
            interrupt_mode="message",
        )


def start_kernel(sandbox: Sandbox) -> AsyncKernelManager:
    """Start the grading kernel in sandbox; its output goes to the job folder's kernel.log."""
    job = sandbox.job
    km = AsyncKernelManager(
        kernel_name=GRADING_KERNEL_NAME,
        kernel_spec_manager=SandboxKernelSpecs(sandbox.command()),
        transport="ipc",
        ip=str(job.ipc_prefix),
        connection_file=str(job.connection_file),
        client_factory=GuardedKernelClient,
    )
    km.write_connection_file()
    sandbox.prepare()
    run_sync(km.start_kernel)(
        extra_arguments=KERNEL_ARGUMENTS, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    # the local provisioner's Popen (KernelManager.provisioner is typed as its base class)
    process: subprocess.Popen[bytes] = getattr(km.provisioner, "process")  # noqa: B009
    sandbox.started(process)
    threading.Thread(target=keep_head, args=(process.stdout, job.log), daemon=True).start()
    return km


def keep_head(stream: IO[bytes], path: Path, limit: int = MAX_LOG_BYTES) -> None:
    """Copy the first limit bytes of stream to path; read and drop the rest until it ends.

    The kernel never blocks on a full pipe, and however much it writes (a learner's code
    can write to file descriptors 1 and 2 directly), the log stays within limit.
    """
    with stream, path.open("ab") as log:
        kept = 0
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]  # a pipe's BufferedReader
            if kept < limit:
                log.write(chunk[: limit - kept])
                kept += len(chunk)
