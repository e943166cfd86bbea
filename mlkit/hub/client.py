"""The exchange from a notebook or a terminal: `mlkit.submit()`, `mlkit fetch`, `mlkit release`,
`mlkit collect`, `mlkit return-feedback`, `mlkit feedback`.

The client finds the exchange at `MLKIT_EXCHANGE_URL` (the hub config sets it in every
learner's server) and proves who it is with the hub token of that server,
`JUPYTERHUB_API_TOKEN`. It never says who it is any other way: the exchange asks the hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from mlkit.errors import MlkitError
from mlkit.grading.atomic import write_atomic
from mlkit.grading.names import file_stem
from mlkit.settings import in_grader

URL_ENV = "MLKIT_EXCHANGE_URL"
TOKEN_ENV = "JUPYTERHUB_API_TOKEN"  # noqa: S105 (the name of the variable, not a token)
LAB_NUMBER = re.compile(r"\d\d")


class ExchangeError(MlkitError, RuntimeError):
    """The exchange refused a call or could not be reached; `status` is the HTTP status
    (0 when nothing answered)."""

    def __init__(self, message: str, status: int = 0) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Exchange:
    """The exchange at `url`, called with the hub `token`."""

    url: str
    token: str
    timeout: float = 60.0

    @classmethod
    def from_env(cls) -> Exchange:
        """The exchange of this hub server (`MLKIT_EXCHANGE_URL`, `JUPYTERHUB_API_TOKEN`)."""
        url, token = os.environ.get(URL_ENV, ""), os.environ.get(TOKEN_ENV, "")
        if not url or not token:
            missing = [name for name, value in ((URL_ENV, url), (TOKEN_ENV, token)) if not value]
            raise ExchangeError(
                f"{' and '.join(missing)} not set: the exchange is reached from a server "
                "started by the class hub (or set both to the exchange's address and a hub token)"
            )
        return cls(url.rstrip("/") + "/", token)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call; an error answer becomes an ExchangeError with the exchange's message."""
        try:
            response = httpx.request(
                method,
                self.url + path,
                content=body,
                params=params,
                headers={"Authorization": f"token {self.token}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as err:
            raise ExchangeError(f"the exchange at {self.url} did not answer: {err}") from None
        if response.status_code >= 400:
            try:
                said = response.json().get("error") or response.reason_phrase
            except (json.JSONDecodeError, AttributeError):
                said = response.reason_phrase
            raise ExchangeError(
                f"the exchange refused {method} {path} ({response.status_code}): {said}",
                response.status_code,
            )
        return response

    def whoami(self) -> dict[str, Any]:
        """Your hub name and role in the exchange."""
        return dict(self.call("GET", "api/whoami").json())

    def labs(self) -> list[dict[str, Any]]:
        """The released labs."""
        return list(self.call("GET", "api/labs").json())

    def release(self, notebook: Path, due: str, closes: str | None = None) -> dict[str, Any]:
        """Instructor: release the lab notebook `labs/NN_topic.ipynb`, due at `due`."""
        lab = lab_of(notebook.name)
        params = {"filename": notebook.name, "due": due, **({"closes": closes} if closes else {})}
        return dict(
            self.call("PUT", f"api/labs/{lab}", body=notebook.read_bytes(), params=params).json()
        )

    def fetch(self, lab: str, home: Path, *, overwrite: bool = False) -> Path:
        """Copy released lab `lab` into home; an existing file is kept unless overwrite."""
        response = self.call("GET", f"api/labs/{check_lab(lab)}/notebook")
        target = home / response.headers["X-Mlkit-Filename"]
        if target.exists() and not overwrite:
            if target.read_bytes() == response.content:
                return target
            raise ExchangeError(
                f"{target} exists and differs from the released lab: your work is kept. "
                "Rename it, or fetch again with overwrite=True (--overwrite) to replace it"
            )
        write_atomic(target, response.content)
        return target

    def submit(self, notebook: Path) -> dict[str, Any]:
        """Submit notebook (named `NN_topic.ipynb`) as yourself; return the receipt."""
        lab = lab_of(notebook.name)
        data = notebook.read_bytes()
        receipt = dict(self.call("POST", f"api/labs/{lab}/submissions", body=data).json())
        if receipt["sha256"] != hashlib.sha256(data).hexdigest():
            raise ExchangeError(f"the exchange stored other bytes than {notebook} holds")
        return receipt

    def submissions(self) -> list[dict[str, Any]]:
        """Your own submissions (receipts), oldest first."""
        return list(self.call("GET", "api/submissions").json())

    def collect(self, lab: str, out: Path) -> list[dict[str, Any]]:
        """Instructor: write each learner's latest submission of lab as
        `out/<learner>/NN_topic.ipynb` (the layout `mlkit grade` reads); return the receipts."""
        lab = check_lab(lab)
        receipts = list(self.call("GET", f"api/labs/{lab}/latest").json())
        for receipt in receipts:
            learner = receipt["learner"]
            response = self.call("GET", f"api/labs/{lab}/submissions/{quote(learner, safe='')}")
            folder = out / file_stem(learner)
            write_atomic(folder / response.headers["X-Mlkit-Filename"], response.content)
        return receipts

    def return_feedback(self, lab: str, grading_out: Path) -> list[str]:
        """Instructor: send each learner's feedback page from the `mlkit grade` output folder
        of lab; return the learners served."""
        lab = check_lab(lab)
        results_path = grading_out / "results.json"
        if not results_path.is_file():
            raise ExchangeError(
                f"{results_path} not found: expected the --out folder of `mlkit grade`"
            )
        results = json.loads(results_path.read_text())
        if not str(results.get("assignment", "")).startswith(lab):
            raise ExchangeError(
                f"{grading_out} holds the grading of {results.get('assignment')!r}, not lab {lab}"
            )
        for learner, entry in results["learners"].items():
            page = (grading_out / entry["feedback"]).read_bytes()
            self.call("PUT", f"api/labs/{lab}/feedback/{quote(learner, safe='')}", body=page)
        return sorted(results["learners"])

    def feedback(self, lab: str, home: Path) -> Path:
        """Your feedback page for lab, saved as `home/NN-feedback.html`."""
        me = self.whoami()["name"]
        response = self.call("GET", f"api/labs/{check_lab(lab)}/feedback/{quote(me, safe='')}")
        target = home / f"{lab}-feedback.html"
        write_atomic(target, response.content)
        return target


def check_lab(lab: str) -> str:
    """lab as a two-digit lab number, or a ValueError naming what was expected."""
    if not LAB_NUMBER.fullmatch(lab):
        raise ExchangeError(f"lab {lab!r} is not a lab number; expected two digits, e.g. 03")
    return lab


def lab_of(filename: str) -> str:
    """The lab number of a notebook named `NN_topic.ipynb`."""
    if not re.fullmatch(r"\d\d_.+\.ipynb", filename):
        raise ExchangeError(f"{filename!r} is not a lab notebook; expected NN_topic.ipynb")
    return filename[:2]


def submit(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Submit a lab notebook to the class exchange and print the receipt (module 00).

    Without a path, the notebook this kernel runs (JupyterLab names it in `JPY_SESSION_NAME`).
    In a notebook the grader runs (a lab whose last cell submits it), it sends nothing and
    returns an empty dict.
    """
    if in_grader():
        print("mlkit.submit(): not sent, the grader is running this notebook")
        return {}
    if path is None:
        session = os.environ.get("JPY_SESSION_NAME", "")
        if not session.endswith(".ipynb"):
            raise ExchangeError(
                "cannot tell which notebook this is; call mlkit.submit('NN_topic.ipynb')"
            )
        # the path from the server's root; the kernel runs in the notebook's folder
        path = session if Path(session).is_file() else Path(session).name
    notebook = Path(path)
    if not notebook.is_file():
        raise ExchangeError(f"{notebook} is not a file; expected the lab notebook to submit")
    receipt = Exchange.from_env().submit(notebook)
    late = " (after the due date: marked late)" if receipt["late"] else ""
    print(
        f"submitted {notebook.name} at {receipt['submitted_at']}{late}\nsha256 {receipt['sha256']}"
    )
    return receipt
