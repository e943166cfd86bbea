"""Execute one submission with papermill in its sandbox, then judge it while its kernel is up.

papermill runs the notebook through a registered engine ("mlkit-grading") whose client
adds what grading needs to nbclient:

- every cell runs, errors or not (like nbgrader's autograder), each error recorded;
- a cell past `cell_timeout` is interrupted, as if the learner pressed stop, and the
  run goes on; a cell that ignores the interrupt gets the kernel killed;
- every message from the kernel is checked first (mlkit.grading.channels): one the
  grader cannot use is dropped and recorded as a `protocol-error` event; a kernel that
  finishes a cell but then sends nothing more on its output channel (closed, or cut off
  after an oversized message) is killed;
- output beyond `output_kb` is dropped as it arrives, whatever its kind (streams, rich
  displays and their metadata, display updates, tracebacks), so 50 MB of prints cost
  nothing; widget messages are dropped (there is no widget front end to keep state for);
- a watchdog kills the whole sandbox at the notebook's wall-clock `timeout`;
- when, and only when, the last cell has run, the hidden tests run (mlkit.grading.judge)
  against the still-running kernel; then the kernel is shut down;
- the executed copy is cut to `output_kb` as a whole, sources, metadata and attachments
  included (mlkit.grading.transforms.limit_output).

Whether the run reached its end is decided here, from the kernel's replies and the
process's fate, never from anything the notebook prints.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import nbformat
import papermill
from jupyter_client import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.execute import remove_error_markers

from mlkit.grading.assignment import Assignment
from mlkit.grading.channels import MAX_FRAME_BYTES
from mlkit.grading.judge import run_hidden_tests
from mlkit.grading.kernel import start_kernel
from mlkit.grading.limits import GradingLimits
from mlkit.grading.registry import TestRegistry
from mlkit.grading.remote import INTERRUPT_GRACE, KernelProbe
from mlkit.grading.sandbox import Sandbox
from mlkit.grading.scoring import QuestionScore
from mlkit.grading.transforms.limit_output import dropped_output_note, limit_output
from mlkit.grading.transforms.set_kernelspec import GRADING_KERNEL_NAME

ENGINE_NAME = "mlkit-grading"
STARTUP_TIMEOUT = 60
TIMEOUT_ENAME = "CellTimeoutError"
MAX_EVENTS_PER_KIND = 20
MAX_DETAIL_CHARS = 500

_quiet = logging.getLogger("mlkit.grading.nbclient")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


@dataclass
class RunRecord:
    """What happened while a submission ran: events, whether it ended, the scores."""

    events: list[dict[str, Any]] = field(default_factory=list)
    completed: bool = False
    output_bytes: int = 0
    output_truncated: bool = False
    scores: dict[str, QuestionScore] = field(default_factory=dict)
    unlisted: dict[str, int] = field(default_factory=dict)

    def event(self, kind: str, index: int | None, detail: str) -> None:
        """Record one event at the cell with 0-based index (stored as a cell number from 1).

        Only the first MAX_EVENTS_PER_KIND events of a kind are listed (close() counts the
        others), and each detail is cut to MAX_DETAIL_CHARS.
        """
        if sum(e["kind"] == kind for e in self.events) >= MAX_EVENTS_PER_KIND:
            self.unlisted[kind] = self.unlisted.get(kind, 0) + 1
            return
        number = None if index is None else index + 1
        self.events.append({"kind": kind, "cell": number, "detail": detail[:MAX_DETAIL_CHARS]})

    def close(self) -> None:
        """Add one event that counts the events left unlisted, if any."""
        if self.unlisted:
            counts = ", ".join(f"{kind}: {n}" for kind, n in sorted(self.unlisted.items()))
            total = sum(self.unlisted.values())
            self.events.append(
                {"kind": "unlisted", "cell": None, "detail": f"{total} more events ({counts})"}
            )
            self.unlisted = {}


class GradingSession:
    """One submission: its sandboxed kernel, limits, watchdog, execution and judging."""

    def __init__(
        self,
        assignment: Assignment,
        registry: TestRegistry,
        sandbox: Sandbox,
        limits: GradingLimits,
    ) -> None:
        self.assignment = assignment
        self.registry = registry
        self.sandbox = sandbox
        self.limits = limits
        self.run = RunRecord()
        self.km: AsyncKernelManager | None = None
        self.executed: nbformat.NotebookNode | None = None
        self.deadline_passed: str | None = None
        self._watchdog: threading.Timer | None = None

    def execute(self, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
        """Run nb top to bottom, judge it if it reached its end; return the executed notebook."""
        self.km = start_kernel(self.sandbox)
        self._arm(self.limits.timeout, f"the notebook ran past its {self.limits.timeout:g} s limit")
        try:
            papermill.execute_notebook(
                nb,
                None,
                engine_name=ENGINE_NAME,
                kernel_name=GRADING_KERNEL_NAME,
                progress_bar=False,
                request_save_on_cell_execute=False,
                start_timeout=STARTUP_TIMEOUT,
                execution_timeout=self.limits.cell_timeout,
                session=self,
            )
        except PapermillExecutionError:
            pass  # some cells raised; each one is in the record already
        finally:
            self._disarm()
            self._shutdown()
        assert self.executed is not None  # noqa: S101 (types only: set by the run above)
        kb = self.limits.output_kb
        executed, cut = limit_output(remove_error_markers(self.executed), kb * 1024)
        if cut:
            self.run.event(
                "output-truncated", None, f"the executed copy keeps {kb} KB: {'; '.join(cut)}"
            )
        self.run.close()
        return executed

    def judge(self, kc: Any) -> None:
        """Run the hidden tests against the kernel, under their own watchdog."""
        assert self.km is not None  # noqa: S101 (types only: judge runs after the kernel starts)
        budget = self.limits.test_timeout * max(1, len(self.registry.all())) + INTERRUPT_GRACE
        self._arm(budget, "the hidden tests ran out of time")
        probe = KernelProbe(
            kc,
            timeout=self.limits.test_timeout,
            interrupt=self.km.interrupt_kernel,
            alive=self.km.is_alive,
            kill=self.sandbox.kill,
            report=lambda problem: self.run.event("protocol-error", None, problem),
        )
        probe.release()
        self.run.scores = run_hidden_tests(self.assignment, self.registry, probe)
        if probe.gone and not probe.broken:
            cause = self.sandbox.diagnose()
            self.run.event(
                "tests-kernel-died", None, f"{probe.gone}" + (f" ({cause})" if cause else "")
            )

    def kernel_stopped(self, cell: int) -> None:
        """Record why the kernel is gone while cell ran."""
        if self.deadline_passed:
            self.run.event(
                "notebook-timeout", cell, f"{self.deadline_passed}; stopped in cell {cell + 1}"
            )
            return
        cause = self.sandbox.diagnose()
        if cause:
            self.run.event("kernel-oom", cell, f"the kernel was {cause} in cell {cell + 1}")
            return
        process = self.sandbox.process
        code = process.poll() if process is not None else None
        said = f"exit code {code}" if code is not None else "no exit code"
        self.run.event("kernel-died", cell, f"the kernel stopped in cell {cell + 1} ({said})")

    def _arm(self, seconds: float, reason: str) -> None:
        self._disarm()
        self._watchdog = threading.Timer(seconds, self._expire, args=(reason,))
        self._watchdog.daemon = True
        self._watchdog.start()

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _expire(self, reason: str) -> None:
        self.deadline_passed = reason
        self.sandbox.kill()

    def _shutdown(self) -> None:
        km = self.km
        if km is None:
            return
        try:
            if run_sync(km.is_alive)():
                run_sync(km.shutdown_kernel)(now=True)
        finally:
            run_sync(km.cleanup_resources)()


class GradingNotebookClient(PapermillNotebookClient):  # type: ignore[misc]  # papermill is untyped
    """papermill's client, with per-cell records, an output cap and the judge at the end."""

    def __init__(self, nb_man: Any, session: GradingSession, **kwargs: Any) -> None:
        super().__init__(nb_man, km=session.km, **kwargs)
        self.session = session
        self.output_cap = session.limits.output_kb * 1024
        self.cell_index: int | None = None  # the cell running, None while the tests run
        self.timed_out: int | None = None  # the last cell interrupted for its time limit

    def execute(self, **kwargs: Any) -> nbformat.NotebookNode:
        """Run every cell; if the last one ran, judge. The caller shuts the kernel down."""
        self.reset_execution_trackers()
        try:
            with self.setup_kernel(**kwargs):
                self.session.sandbox.seal()
                self.kc.report_to(self._dropped)
                self.papermill_execute_cells()
                self.cell_index = None
                if self.session.run.completed:
                    self.session.judge(self.kc)
        finally:
            if self.kc is not None:
                self.kc.stop_channels()
            self.session.executed = self.nb
        return self.nb  # type: ignore[no-any-return]  # nbclient's attribute is untyped

    def papermill_execute_cells(self) -> None:
        """Execute cells in order; stop only when the kernel is gone."""
        for index, cell in enumerate(self.nb.cells):
            self.cell_index = index
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
            except DeadKernelError:
                self.session.kernel_stopped(index)
                return
            except CellTimeoutError:  # the kernel replied, but no end of output followed
                if self.timed_out == index:  # it did not go idle after the interrupt
                    self.session.run.event(
                        "interrupt-ignored",
                        index,
                        f"cell {index + 1} ignored the interrupt and was killed",
                    )
                else:
                    self.session.run.event("channel-broken", index, _silent(index))
                self.session.sandbox.kill()
                return
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)
        self.session.run.completed = True

    async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
        index = next((i for i, c in enumerate(self.nb.cells) if c is cell), None)
        self.timed_out = index
        where = f"cell {index + 1}" if index is not None else "a cell"
        self.session.run.event(
            "cell-timeout",
            index,
            f"{where} ran past the {timeout:g} s cell limit and was interrupted",
        )
        return await super()._async_handle_timeout(timeout, cell)

    async def _check_raise_for_error(self, cell: Any, cell_index: int, exec_reply: Any) -> None:
        content = (exec_reply or {}).get("content", {})
        if content.get("status") == "error" and content.get("ename") != TIMEOUT_ENAME:
            ename, evalue = str(content.get("ename"))[:100], str(content.get("evalue"))[:300]
            self.session.run.event("cell-error", cell_index, f"{ename}: {evalue}".rstrip(": "))
        await super()._check_raise_for_error(cell, cell_index, exec_reply)

    def output(
        self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int
    ) -> Any:
        """Keep output until the cap; past it, drop it and say so once."""
        if not self._within_cap(msg, cell_index, outs):
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        """Update displays with display_id (`update_display_data`) while under the cap."""
        if display_id in self._display_id_map and self._within_cap(msg, self.cell_index):
            super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs: list[Any], msg: dict[str, Any], cell_index: int) -> None:
        """Drop widget messages: there is no widget front end, so no widget state is kept."""

    def _within_cap(
        self, msg: dict[str, Any], cell_index: int | None, outs: list[Any] | None = None
    ) -> bool:
        """Count msg's content against the output cap; past it, say so once and refuse."""
        run = self.session.run
        size = message_size(msg)
        if run.output_bytes + size <= self.output_cap:
            run.output_bytes += size
            return True
        if not run.output_truncated:
            run.output_truncated = True
            kb = self.session.limits.output_kb
            run.event("output-truncated", cell_index, f"output past {kb} KB was dropped")
            if outs is not None:
                outs.append(dropped_output_note(kb))
        return False

    def _dropped(self, problem: str) -> None:
        index = self.cell_index
        where = f"in cell {index + 1}" if index is not None else "while the tests ran"
        self.session.run.event(
            "protocol-error", index, f"the kernel sent {problem} {where}; it was ignored"
        )


def message_size(msg: dict[str, Any]) -> int:
    """About the characters msg's content takes as JSON: what keeping it would cost.

    Counted without building the JSON (a message may be hundreds of megabytes).
    """
    size, stack = 0, [msg["content"]]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            size += len(value) + 2
        elif isinstance(value, dict):
            size += 2 + 4 * len(value)
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            size += 2 + 2 * len(value)
            stack.extend(value)
        else:
            size += 8
    return size


def _silent(index: int) -> str:
    return (
        f"cell {index + 1} finished, but the kernel sent nothing more on its output channel "
        f"for {INTERRUPT_GRACE:g} s (was the channel closed, or a message of more than "
        f"{MAX_FRAME_BYTES // 2**20} MB cut off?), so the grader stopped it"
    )


class GradingEngine(NBClientEngine):  # type: ignore[misc]  # papermill is untyped
    """The papermill engine that runs a GradingNotebookClient."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = STARTUP_TIMEOUT,
        execution_timeout: float | None = None,
        session: GradingSession | None = None,
        **kwargs: Any,
    ) -> nbformat.NotebookNode:
        """Execute nb_man's notebook in session's kernel (papermill calls this)."""
        assert session is not None, "the mlkit-grading engine needs session="  # noqa: S101
        client = GradingNotebookClient(
            nb_man,
            session,
            kernel_name=kernel_name,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            log=_quiet,
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={
                "ename": TIMEOUT_ENAME,
                "evalue": f"cell ran past {execution_timeout:g} s and was interrupted",
            },
            iopub_timeout=INTERRUPT_GRACE,
            raise_on_iopub_timeout=True,
        )
        return client.execute()


papermill_engines.register(ENGINE_NAME, GradingEngine)
