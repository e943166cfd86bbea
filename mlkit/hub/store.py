"""The exchange's storage: releases, submissions and feedback in SQL, notebooks on disk.

Rows live in a SQLAlchemy database (SQLite by default, a file in the data folder); the
bytes of every notebook and feedback page live in `blobs/` named by their sha256. A write
goes blob first (a temporary file, fsynced, renamed, the folder fsynced), then the row,
committed: a process killed at any moment leaves either no row or a row whose blob is
complete, so a receipt (given only after the commit) always points at stored bytes.
Temporary files a killed write left behind are removed when the store opens.

Nothing here knows who is asking: the service (`exchange.py`) decides who may call what.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    String,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from mlkit.errors import MlkitError

TMP_SUFFIX = ".partial"
DB_URL_FORMS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"


class StoreDatabaseError(MlkitError, ValueError):
    """The exchange's database URL is malformed or names a database that does not answer."""


class Base(DeclarativeBase):
    """The exchange's tables."""


class Release(Base):
    """Lab NN released by an instructor: the notebook learners fetch, its due date and,
    optionally, the hard deadline after which submissions are refused."""

    __tablename__ = "releases"
    lab: Mapped[str] = mapped_column(String(2), primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closes: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    released_by: Mapped[str] = mapped_column(String(255))
    released_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Submission(Base):
    """One submission of a lab by a learner (every one is kept; the latest counts)."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lab: Mapped[str] = mapped_column(String(2), index=True)
    learner: Mapped[str] = mapped_column(String(255), index=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    late: Mapped[bool] = mapped_column(Boolean)


class Feedback(Base):
    """The feedback page an instructor returned to a learner for a lab (the latest wins)."""

    __tablename__ = "feedback"
    lab: Mapped[str] = mapped_column(String(2), primary_key=True)
    learner: Mapped[str] = mapped_column(String(255), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    returned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Receipt:
    """What a learner gets back once a submission is stored."""

    lab: str
    learner: str
    submitted_at: str
    sha256: str
    size: int
    late: bool

    @classmethod
    def of(cls, row: Submission) -> Receipt:
        """The receipt of a stored submission row."""
        return cls(
            lab=row.lab,
            learner=row.learner,
            submitted_at=as_utc(row.submitted_at).isoformat(),
            sha256=row.sha256,
            size=row.size,
            late=row.late,
        )


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """moment with its time zone (SQLite hands back naive datetimes, stored as UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class BlobStore:
    """Files named by the sha256 of their bytes under `root`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(f"*/*{TMP_SUFFIX}"):  # a write killed before its rename
            stale.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob with this sha256 lives."""
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store data (once: equal bytes share a file); return its sha256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists() and target.stat().st_size == len(data):
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=TMP_SUFFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_folder(target.parent)
        return digest

    def get(self, sha256: str) -> bytes:
        """The bytes stored under sha256."""
        return self.path(sha256).read_bytes()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sqlite_url(data: Path) -> str:
    """The default database: a SQLite file in the data folder."""
    return f"sqlite:///{data / 'exchange.sqlite'}"


def _engine(url: str) -> Engine:
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend not in {"sqlite", "postgresql"}:
        raise StoreDatabaseError(f"db_url: got {_without_password(url)!r}, expected {DB_URL_FORMS}")
    if backend == "postgresql":
        # A server database (PostgreSQL): a pooled connection the server dropped (a restart,
        # an idle timeout) is noticed and replaced before a request uses it.
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _durable(connection: Any, _record: Any) -> None:
        # A commit reaches the disk before the receipt leaves (FULL is SQLite's default
        # in rollback-journal mode; set it so that no build default can weaken it).
        connection.execute("PRAGMA synchronous=FULL")

    return engine


def _without_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


class ExchangeStore:
    """Releases, submissions and feedback of one class: rows in `db_url`, bytes in
    `data/blobs`."""

    def __init__(self, data: Path, db_url: str | None = None) -> None:
        self.data = Path(data)
        self.data.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(self.data / "blobs")
        url = db_url or sqlite_url(self.data)
        try:
            self.engine = _engine(url)
            Base.metadata.create_all(self.engine)
        except (NoSuchModuleError, OperationalError) as err:
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
            raise StoreDatabaseError(
                f"the exchange's database {_without_password(url)} cannot be used: {reason}. "
                f"Check that it runs and that the URL ({DB_URL_FORMS}) is right."
            ) from err
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new database session (use it in a `with` block)."""
        return self._sessions()

    # releases
    def release(
        self,
        lab: str,
        filename: str,
        notebook: bytes,
        *,
        due: datetime,
        closes: datetime | None,
        by: str,
    ) -> Release:
        """Release (or re-release) lab with the notebook learners fetch."""
        digest = self.blobs.put(notebook)
        with self.session() as db:
            row = db.get(Release, lab) or Release(lab=lab)
            row.filename, row.sha256, row.size = filename, digest, len(notebook)
            row.due, row.closes, row.released_by, row.released_at = due, closes, by, now()
            db.add(row)
            db.commit()
            return row

    def releases(self) -> list[Release]:
        """Every released lab, by number."""
        with self.session() as db:
            return list(db.scalars(select(Release).order_by(Release.lab)))

    def get_release(self, lab: str) -> Release | None:
        """The release of lab, or None."""
        with self.session() as db:
            return db.get(Release, lab)

    # submissions
    def submit(self, release: Release, learner: str, notebook: bytes) -> Receipt:
        """Store a learner's submission of a released lab; the receipt follows the commit."""
        digest = self.blobs.put(notebook)
        moment = now()
        with self.session() as db:
            row = Submission(
                lab=release.lab,
                learner=learner,
                submitted_at=moment,
                sha256=digest,
                size=len(notebook),
                late=moment > as_utc(release.due),
            )
            db.add(row)
            db.commit()
            return Receipt.of(row)

    def submissions_of(self, learner: str, lab: str | None = None) -> list[Receipt]:
        """A learner's submissions (of one lab, or all), oldest first."""
        query = select(Submission).where(Submission.learner == learner)
        if lab is not None:
            query = query.where(Submission.lab == lab)
        with self.session() as db:
            return [Receipt.of(row) for row in db.scalars(query.order_by(Submission.id))]

    def latest(self, lab: str) -> list[Receipt]:
        """The latest submission of lab by every learner who submitted, by learner."""
        newest = (
            select(func.max(Submission.id))
            .where(Submission.lab == lab)
            .group_by(Submission.learner)
            .scalar_subquery()
        )
        query = select(Submission).where(Submission.id.in_(newest)).order_by(Submission.learner)
        with self.session() as db:
            return [Receipt.of(row) for row in db.scalars(query)]

    def latest_of(self, lab: str, learner: str) -> Receipt | None:
        """The latest submission of lab by learner, or None."""
        found = self.submissions_of(learner, lab)
        return found[-1] if found else None

    # feedback
    def return_feedback(self, lab: str, learner: str, html: bytes) -> Feedback:
        """Store (or replace) the feedback page of learner for lab."""
        digest = self.blobs.put(html)
        with self.session() as db:
            row = db.get(Feedback, (lab, learner)) or Feedback(lab=lab, learner=learner)
            row.sha256, row.size, row.returned_at = digest, len(html), now()
            db.add(row)
            db.commit()
            return row

    def feedback_of(self, lab: str, learner: str) -> Feedback | None:
        """The feedback row of learner for lab, or None."""
        with self.session() as db:
            return db.get(Feedback, (lab, learner))

    def all_submissions(self) -> Iterator[Submission]:
        """Every submission row (for checks of the store itself)."""
        with self.session() as db:
            yield from db.scalars(select(Submission).order_by(Submission.id))
