"""The limits one submission runs under, and their validation (module 00, grading).

The process sandbox enforces them with rlimits, namespaces and a wall-clock watchdog;
the docker sandbox with the container's memory, CPU and process caps plus the same
watchdog. nbclient enforces the per-cell timeout, and the grader caps stored output
(mlkit.grading.execute) and the executed copy (mlkit.grading.transforms.limit_output).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

MIN_OUTPUT_KB = 16


@dataclass(frozen=True)
class GradingLimits:
    """Time, memory, output and process limits of one submission.

    timeout: wall-clock seconds for the whole notebook; past it the kernel is killed.
    cell_timeout: seconds one cell may run before the grader interrupts it.
    test_timeout: seconds one hidden-test request may take in the learner's code.
    memory_mb: address-space (process) or memory (docker) limit of the kernel.
    output_kb: size of the executed notebook the grader keeps: output past it is dropped
        as it arrives, and the copy is cut to it as a whole (sources, metadata included).
    cpus: CPUs (docker) and BLAS/OpenMP threads a submission may use.
    disk_mb: size of the writable working folder and /tmp.
    max_processes: processes and threads the submission may create.
    """

    timeout: float = 600
    cell_timeout: float = 120
    test_timeout: float = 60
    memory_mb: int = 2048
    output_kb: int = 1024
    cpus: float = 1.0
    disk_mb: int = 512
    max_processes: int = 256

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            whole = field.type in ("int", int)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value <= 0
                or (whole and value != int(value))
            ):
                kind = "a positive whole number" if whole else "a positive number"
                raise ValueError(f"GradingLimits({field.name}=...): expected {kind}, got {value!r}")
            # one type per field, so that equal limits compare (and fingerprint) equal
            object.__setattr__(self, field.name, int(value) if whole else float(value))
        if self.memory_mb < 256:
            raise ValueError(
                f"GradingLimits(memory_mb=...): a Python kernel needs at least 256 MB, "
                f"got {self.memory_mb}"
            )
        if self.output_kb < MIN_OUTPUT_KB:
            raise ValueError(
                f"GradingLimits(output_kb=...): an executed notebook needs at least "
                f"{MIN_OUTPUT_KB} KB (for its cells and the notes on what was cut), "
                f"got {self.output_kb}"
            )

    def to_dict(self) -> dict[str, float]:
        """Plain data (for results.json and resume fingerprints)."""
        return asdict(self)
