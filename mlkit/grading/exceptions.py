"""Every failure the grading tools can report, each with the facts needed to act on it.

Instructors meet the authoring and layout errors; learners meet the self-check errors;
the grader turns the execution ones into a status and a message per submission.
"""

from __future__ import annotations

from mlkit.errors import MlkitError


class GradingError(MlkitError):
    """Base class of every mlkit grading error (an `mlkit.errors.MlkitError`)."""


class AuthoringError(GradingError):
    """A solution notebook breaks the authoring format (see solutions/README.md)."""

    def __init__(self, notebook: str, problem: str, cell_index: int | None = None) -> None:
        self.notebook = notebook
        self.problem = problem
        self.cell_index = cell_index
        where = f"{notebook}, cell {cell_index}" if cell_index is not None else notebook
        super().__init__(f"{where}: {problem} (the authoring format is in solutions/README.md)")


class UnreadableNotebookError(GradingError):
    """A submitted notebook cannot be read as a notebook (corrupt JSON, not nbformat)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path} is not a readable notebook: {reason}")


class SubmissionLayoutError(GradingError):
    """The submissions folder holds nothing gradable for the assignment."""


class OutFolderError(GradingError):
    """The output folder asked for cannot take this grading run (see grading/out_folder.py)."""

    def __init__(self, out: str, problem: str) -> None:
        self.out = out
        self.problem = problem
        super().__init__(f"the output folder {out} {problem}")


class UnknownAssignmentError(GradingError):
    """No solution notebook matches the assignment asked for."""

    def __init__(self, assignment: str, solutions_dir: str, known: list[str]) -> None:
        self.assignment = assignment
        known_text = ", ".join(known) or "none"
        super().__init__(
            f"assignment {assignment!r}: no solutions/{assignment}_*.ipynb in {solutions_dir} "
            f"(known assignments: {known_text}). Pass the two-digit module number, e.g. 00."
        )


class ClusterError(GradingError):
    """`mlkit grade --cluster` cannot go on: the address, the certificates, the workers or
    the scheduler; the message says what to do (mlkit.grading.cluster)."""


class ManualGradesError(GradingError):
    """The instructor's manual_grades.csv holds a value the grader cannot use."""


class SandboxUnavailableError(GradingError):
    """The sandbox asked for cannot run on this machine."""


class UnknownQuestionError(GradingError, KeyError):
    """`mlkit.check` was asked about a question that has no registered tests."""

    def __init__(self, question: str, known: list[str]) -> None:
        self.question = question
        known_text = ", ".join(known) or "none yet"
        super().__init__(
            f"no self-check for question {question!r} (questions with tests: {known_text}). "
            "Run the question's test cell first; it registers the tests that check() runs."
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class AnswerMissingError(GradingError, NameError):
    """A test asked for a name the learner's notebook does not define."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"not answered yet: `{name}` is not defined in your notebook; run the cell "
            "that defines it (and keep the name the question asks for)"
        )


class LearnerCodeError(GradingError):
    """The learner's code raised while a test called it."""

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        self.message = message
        if type_name == "NotImplementedError":
            text = "not answered yet: the placeholder still raises NotImplementedError"
        else:
            text = f"your code raised {type_name}: {message}".rstrip(": ")
        super().__init__(text)


class ProbeTimeoutError(GradingError):
    """The learner's code did not answer a test within the time limit."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"your code took longer than {seconds:g} s to answer a test")


class KernelGoneError(GradingError):
    """The learner's kernel stopped, so no further test can query it."""


class CodecError(GradingError, ValueError):
    """A value crossing the grading channel is not plain data the grader accepts."""
