"""`mlkit exchange`: the class's exchange, a Tornado app run by JupyterHub as a managed service.

Every call carries a hub token (`Authorization: token ...`); the hub says whose it is, with
the user's groups and the token's scopes (`jupyterhub.services.auth.HubAuth`). A caller
needs the scope to access this service; an instructor is a token that also holds
`INSTRUCT_SCOPE`, which the hub grants through the instructors group's role (see
`config.py`). Nothing in a path, a query or a body names who is calling.

Routes, under the service's prefix (`/services/exchange/`):

    GET  api/health                         no token: the service is up
    GET  api/whoami                         name and role
    GET  api/labs                           released labs
    PUT  api/labs/NN?due=&closes=&filename= instructor: release lab NN (body: the notebook)
    GET  api/labs/NN/notebook               the released notebook
    POST api/labs/NN/submissions            submit lab NN as yourself (body: the notebook)
    GET  api/submissions                    your own submissions (receipts)
    GET  api/labs/NN/latest                 instructor: the latest receipt of every learner
    GET  api/labs/NN/submissions/LEARNER    the latest notebook of LEARNER (yourself, or
                                            any learner for an instructor)
    PUT  api/labs/NN/feedback/LEARNER       instructor: return a feedback page
    GET  api/labs/NN/feedback/LEARNER       the feedback page (yourself, or an instructor)

Bad input gets a 4xx with a JSON `{"error": ...}` that says what was wrong and what was
expected, and nothing stored changes.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import nbformat
from jupyterhub.services.auth import HubAuth, check_scopes
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

from mlkit.hub.store import ExchangeStore, Release, as_utc, now

INSTRUCT_SCOPE = "custom:mlkit-exchange:instruct"
SERVICE_NAME = "exchange"
MAX_NOTEBOOK_BYTES = 5_000_000
TOKEN_CACHE_SECONDS = 10  # a revoked hub token stops working here within this time
LAB = r"(\d\d)"
LEARNER = r"([^/]+)"
LAB_FILE = re.compile(r"\d\d_[A-Za-z0-9_-]+\.ipynb")

log = logging.getLogger("mlkit.exchange")


def refusal(status: int, message: str) -> web.HTTPError:
    """An error answer: status and a message saying what was wrong and what was expected."""
    return web.HTTPError(status, "%s", message)


class ExchangeHandler(web.RequestHandler):
    """A call authenticated by the hub; `self.user` is the hub's model of the caller."""

    user: dict[str, Any]

    def initialize(self, store: ExchangeStore, hub_auth: HubAuth, max_bytes: int) -> None:
        self.store, self.hub_auth, self.max_bytes = store, hub_auth, max_bytes

    def check_xsrf_cookie(self) -> None:
        """Calls carry a token in a header, never a cookie: no cross-site form can make one."""

    async def prepare(self) -> None:
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            raise refusal(
                401,
                "no valid hub token: send 'Authorization: token <your "
                "JUPYTERHUB_API_TOKEN>' (a token from the hub, not expired or revoked)",
            )
        if model.get("kind", "user") != "user":
            raise refusal(403, "only hub users call the exchange, not services")
        if not check_scopes(self.hub_auth.access_scopes, set(model.get("scopes", []))):
            raise refusal(
                403,
                f"this token may not access the exchange; it needs one of "
                f"{sorted(self.hub_auth.access_scopes)}",
            )
        self.user = model

    @property
    def name(self) -> str:
        """The caller's hub name."""
        return str(self.user["name"])

    @property
    def is_instructor(self) -> bool:
        """True when the hub granted this token the instructor's scope."""
        return bool(check_scopes({INSTRUCT_SCOPE}, set(self.user.get("scopes", []))))

    def require_instructor(self, action: str) -> None:
        """403 unless the caller is an instructor."""
        if not self.is_instructor:
            raise refusal(403, f"only instructors may {action}; {self.name} is a learner")

    def require_self_or_instructor(self, learner: str, what: str) -> None:
        """403 unless the caller is learner or an instructor."""
        if learner != self.name and not self.is_instructor:
            raise refusal(
                403,
                f"{self.name} may read only their own {what}, not {learner}'s",
            )

    def release_of(self, lab: str) -> Release:
        """The release of lab, or 404."""
        release = self.store.get_release(lab)
        if release is None:
            released = ", ".join(r.lab for r in self.store.releases()) or "none yet"
            raise refusal(404, f"lab {lab} is not released (released: {released})")
        return release

    def notebook_body(self) -> bytes:
        """The request body, checked to be a notebook no larger than the limit."""
        body = self.request.body
        if len(body) > self.max_bytes:
            raise refusal(
                413,
                f"the notebook is {len(body)} bytes; the limit is {self.max_bytes} "
                "bytes (clear large outputs and submit again)",
            )
        # nbformat raises many kinds (KeyError, TypeError, NBFormatError, ValidationError...)
        # on JSON that is not a notebook: every one of them means the same to the caller.
        try:
            notebook = nbformat.reads(body.decode("utf-8"), as_version=4)
            nbformat.validate(notebook)
        except Exception as err:
            said = str(err).strip()
            first = said.splitlines()[0][:200] if said else type(err).__name__
            raise refusal(
                422, f"the body is not a Jupyter notebook (.ipynb, nbformat 4): {first}"
            ) from None
        return body

    def send_json(self, value: Any, status: int = 200) -> None:
        """Answer with value as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as `{"error": message}`."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = error.args[0] if isinstance(error, web.HTTPError) and error.args else None
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message or self._reason, "status": status_code}))


class HealthHandler(web.RequestHandler):
    """`GET api/health`: answers 200 once the store is open (no token needed)."""

    def get(self) -> None:
        self.finish({"ok": True})


class WhoAmIHandler(ExchangeHandler):
    def get(self) -> None:
        role = "instructor" if self.is_instructor else "learner"
        self.send_json({"name": self.name, "role": role, "groups": self.user.get("groups", [])})


class LabsHandler(ExchangeHandler):
    def get(self) -> None:
        self.send_json([release_json(r) for r in self.store.releases()])


class LabHandler(ExchangeHandler):
    def put(self, lab: str) -> None:
        self.require_instructor("release labs")
        filename = self.get_query_argument("filename", "")
        if not (LAB_FILE.fullmatch(filename) and filename.startswith(lab)):
            raise refusal(
                400, f"filename {filename!r} is not a lab file; expected {lab}_topic.ipynb"
            )
        due = self.moment("due", required=True)
        closes = self.moment("closes", required=False)
        if due is None or (closes is not None and closes < due):
            raise refusal(400, "closes (the hard deadline) must not be before due")
        notebook = self.notebook_body()
        release = self.store.release(lab, filename, notebook, due=due, closes=closes, by=self.name)
        log.info("%s released lab %s, due %s", self.name, lab, due.isoformat())
        self.send_json(release_json(release), 201)

    def moment(self, field: str, *, required: bool) -> datetime | None:
        """The query argument field as an aware datetime (ISO 8601; UTC when no zone)."""
        text = self.get_query_argument(field, "")
        if not text:
            if required:
                raise refusal(400, f"{field} is missing; expected an ISO 8601 time")
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise refusal(
                400,
                f"{field}={text!r} is not a time; expected ISO 8601, e.g. 2027-01-31T23:59+00:00",
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class NotebookHandler(ExchangeHandler):
    def get(self, lab: str) -> None:
        release = self.release_of(lab)
        self.set_header("Content-Type", "application/x-ipynb+json")
        self.set_header("X-Mlkit-Filename", release.filename)
        self.set_header("X-Mlkit-Sha256", release.sha256)
        self.finish(self.store.blobs.get(release.sha256))


class SubmitHandler(ExchangeHandler):
    def post(self, lab: str) -> None:
        release = self.release_of(lab)
        if release.closes is not None and now() > as_utc(release.closes):
            raise refusal(
                409,
                f"lab {lab} closed at {as_utc(release.closes).isoformat()}; "
                "submissions after the hard deadline are refused (ask your instructor)",
            )
        notebook = self.notebook_body()
        receipt = self.store.submit(release, self.name, notebook)
        log.info("%s submitted lab %s (%s)", self.name, lab, receipt.sha256[:12])
        self.send_json(asdict(receipt), 201)


class OwnSubmissionsHandler(ExchangeHandler):
    def get(self) -> None:
        self.send_json([asdict(r) for r in self.store.submissions_of(self.name)])


class LatestHandler(ExchangeHandler):
    def get(self, lab: str) -> None:
        self.require_instructor("collect submissions")
        self.release_of(lab)
        self.send_json([asdict(r) for r in self.store.latest(lab)])


class LearnerSubmissionHandler(ExchangeHandler):
    def get(self, lab: str, learner: str) -> None:
        self.require_self_or_instructor(learner, "submissions")
        release = self.release_of(lab)
        receipt = self.store.latest_of(lab, learner)
        if receipt is None:
            raise refusal(404, f"{learner} has not submitted lab {lab}")
        self.set_header("Content-Type", "application/x-ipynb+json")
        self.set_header("X-Mlkit-Filename", release.filename)
        self.set_header("X-Mlkit-Receipt", json.dumps(asdict(receipt)))
        self.finish(self.store.blobs.get(receipt.sha256))


class FeedbackHandler(ExchangeHandler):
    def put(self, lab: str, learner: str) -> None:
        self.require_instructor("return feedback")
        self.release_of(lab)
        body = self.request.body
        if not body or len(body) > self.max_bytes:
            raise refusal(
                413 if body else 400,
                f"a feedback page must be 1 to {self.max_bytes} bytes, got {len(body)}",
            )
        row = self.store.return_feedback(lab, learner, body)
        self.send_json({"lab": lab, "learner": learner, "sha256": row.sha256}, 201)

    def get(self, lab: str, learner: str) -> None:
        self.require_self_or_instructor(learner, "feedback")
        self.release_of(lab)
        row = self.store.feedback_of(lab, learner)
        if row is None:
            raise refusal(404, f"no feedback returned yet for {learner}, lab {lab}")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        # The page is the grader's; shown in a browser it must not run anything.
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.finish(self.store.blobs.get(row.sha256))


def release_json(release: Release) -> dict[str, Any]:
    """What learners and instructors see of a release."""
    return {
        "lab": release.lab,
        "filename": release.filename,
        "sha256": release.sha256,
        "due": as_utc(release.due).isoformat(),
        "closes": as_utc(release.closes).isoformat() if release.closes else None,
    }


def make_app(
    store: ExchangeStore, hub_auth: HubAuth, prefix: str, max_bytes: int
) -> web.Application:
    """The exchange's Tornado application under the URL prefix."""
    args = {"store": store, "hub_auth": hub_auth, "max_bytes": max_bytes}
    routes: list[tuple[str, type[web.RequestHandler], dict[str, Any]]] = [
        ("api/whoami", WhoAmIHandler, args),
        ("api/labs", LabsHandler, args),
        (f"api/labs/{LAB}", LabHandler, args),
        (f"api/labs/{LAB}/notebook", NotebookHandler, args),
        (f"api/labs/{LAB}/submissions", SubmitHandler, args),
        (f"api/labs/{LAB}/latest", LatestHandler, args),
        (f"api/labs/{LAB}/submissions/{LEARNER}", LearnerSubmissionHandler, args),
        (f"api/labs/{LAB}/feedback/{LEARNER}", FeedbackHandler, args),
        ("api/submissions", OwnSubmissionsHandler, args),
    ]
    handlers: list[Any] = [(url_path_join(prefix, "api/health"), HealthHandler)]
    handlers += [(url_path_join(prefix, path), cls, kw) for path, cls, kw in routes]
    return web.Application(handlers)


def serve(data: Path, db_url: str | None, service_url: str, prefix: str, max_bytes: int) -> None:
    """Run the exchange at service_url (as JupyterHub hands it to a managed service)."""
    address = urlparse(service_url)
    if not address.hostname or not address.port:
        raise ValueError(
            f"service URL {service_url!r} has no host and port; expected "
            "http://127.0.0.1:PORT (JUPYTERHUB_SERVICE_URL)"
        )
    store = ExchangeStore(data, db_url)
    hub_auth = HubAuth(cache_max_age=TOKEN_CACHE_SECONDS)
    if not hub_auth.access_scopes:
        hub_auth.access_scopes = {f"access:services!service={SERVICE_NAME}"}
    app = make_app(store, hub_auth, prefix, max_bytes)
    # Bodies larger than the limit are read up to this bound so that they get a 413 that
    # says so; beyond it Tornado closes the connection.
    server = HTTPServer(app, max_body_size=max_bytes * 2 + 65536, xheaders=True)
    server.listen(address.port, address.hostname)
    log.info("exchange at %s%s, data in %s", service_url, prefix, data)
    IOLoop.current().start()
