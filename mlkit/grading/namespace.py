"""`ns`, the learner's notebook names as a test sees them, in the learner's own kernel.

`mlkit.check` runs public tests against a LocalNamespace. The grader runs the same tests
against mlkit.grading.remote.RemoteNamespace, which has the same interface but fetches
values from the learner's kernel as plain data.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from mlkit.grading.exceptions import AnswerMissingError


class LocalNamespace:
    """Attribute access to a mapping of names: `ns.churn_rate` is `names["churn_rate"]`."""

    def __init__(self, names: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_names", names)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._names[name]
        except KeyError:
            raise AnswerMissingError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("tests read the learner's names; they do not assign them")


def user_namespace() -> Mapping[str, Any]:
    """The interactive namespace of the running kernel (IPython's user_ns, else __main__)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        shell = None
    else:
        shell = get_ipython()
    if shell is not None:
        names: Mapping[str, Any] = shell.user_ns
        return names
    return vars(sys.modules["__main__"])
