"""The grading kernel: a Python kernel started inside a sandbox, reached over unix sockets.

Whatever kernelspec a submission names, it runs on this one (the normalise step rewrites
the notebook's kernelspec too). The kernel talks ZeroMQ over `ipc` sockets in the job
folder rather than TCP, because the sandbox has no network: not even the grader's
127.0.0.1. Interrupts are sent as messages, which work across namespaces and containers.
"""

from __future__ import annotations

from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_core.utils import run_sync

from mlkit.grading.sandbox import Sandbox
from mlkit.grading.transforms.set_kernelspec import GRADING_KERNEL_NAME

KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]


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
    )
    km.write_connection_file()
    sandbox.prepare()
    with job.log.open("ab") as log:
        run_sync(km.start_kernel)(extra_arguments=KERNEL_ARGUMENTS, stdout=log, stderr=log)
    sandbox.started(km.provisioner.process)
    return km
