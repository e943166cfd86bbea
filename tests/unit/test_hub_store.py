"""The exchange's store: receipts follow the commit, blobs are whole, a killed writer loses
nothing it gave a receipt for. Each test runs on SQLite and on PostgreSQL (`exchange_db`)."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from mlkit.hub.store import TMP_SUFFIX, ExchangeStore, StoreDatabaseError

WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from mlkit.hub.store import ExchangeStore

store = ExchangeStore(Path(sys.argv[1]), sys.argv[3] or None)
release = store.release("00", "00_welcome.ipynb", b"{}", due=datetime.now(UTC) + timedelta(1),
                        closes=None, by="ines")
for n in range(100_000):
    receipt = store.submit(release, "alice", f"{sys.argv[2]}-{n}".encode() * 200_000)
    print(receipt.sha256, flush=True)
"""


def a_store(tmp_path, db_url):
    store = ExchangeStore(tmp_path / "data", db_url)
    due = datetime.now(UTC) + timedelta(days=1)
    release = store.release("00", "00_welcome.ipynb", b"lab", due=due, closes=None, by="ines")
    return store, release


def test_a_receipt_names_the_stored_bytes(tmp_path, exchange_db):
    store, release = a_store(tmp_path, exchange_db)
    receipt = store.submit(release, "alice", b"work")
    assert receipt.sha256 == hashlib.sha256(b"work").hexdigest() and receipt.size == 4
    assert not receipt.late
    assert store.blobs.get(receipt.sha256) == b"work"
    assert store.submissions_of("alice") == [receipt]
    assert store.submissions_of("bob") == []


def test_late_is_after_the_due_date_and_latest_is_per_learner(tmp_path, exchange_db):
    store, _ = a_store(tmp_path, exchange_db)
    past = datetime.now(UTC) - timedelta(hours=1)
    release = store.release("01", "01_packaging.ipynb", b"lab", due=past, closes=None, by="ines")
    store.submit(release, "alice", b"first")
    second = store.submit(release, "alice", b"second")
    bob = store.submit(release, "bob", b"bob's")
    assert second.late and bob.late
    assert store.latest("01") == [second, bob]
    assert store.latest("00") == []


def test_a_partial_blob_left_by_a_killed_write_is_removed_on_open(tmp_path, exchange_db):
    store, _ = a_store(tmp_path, exchange_db)
    partial = store.blobs.root / "ab" / f".xyz{TMP_SUFFIX}"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half a notebo")
    ExchangeStore(tmp_path / "data", exchange_db).engine.dispose()
    assert not partial.exists()


def test_a_writer_killed_mid_write_keeps_every_receipt_it_gave(tmp_path, exchange_db):
    data = tmp_path / "data"
    given: list[str] = []
    for run in range(3):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data), str(run), exchange_db or ""],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        given += [writer.stdout.readline().strip() for _ in range(5)]
        writer.send_signal(signal.SIGKILL)  # in a loop of 1-6 MB writes, most likely mid-write
        writer.wait()
        given += [line.strip() for line in writer.stdout if line.strip()]
        store = ExchangeStore(data, exchange_db)
        stored = [r.sha256 for r in store.all_submissions()]
        assert set(given) <= set(stored) and len(set(given)) == len(given)
        # beyond the receipts, at most one row a run: a commit whose receipt the kill cut off
        assert len(stored) - len(given) <= run + 1
        for digest in stored:
            assert hashlib.sha256(store.blobs.get(digest)).hexdigest() == digest
        assert not list(store.blobs.root.rglob(f"*{TMP_SUFFIX}"))
        store.engine.dispose()


def test_a_crash_while_the_blob_is_written_leaves_no_row(tmp_path, monkeypatch, exchange_db):
    store, release = a_store(tmp_path, exchange_db)

    def crash(*args):
        raise KeyboardInterrupt  # the process dies before the blob is in place

    monkeypatch.setattr("mlkit.hub.store.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.submit(release, "alice", b"work")
    monkeypatch.undo()
    assert store.submissions_of("alice") == []
    assert not store.blobs.path(hashlib.sha256(b"work").hexdigest()).exists()


def test_a_crash_at_the_commit_gives_no_receipt_and_a_resubmit_works(
    tmp_path, monkeypatch, exchange_db
):
    store, release = a_store(tmp_path, exchange_db)

    def crash(self):
        raise KeyboardInterrupt

    monkeypatch.setattr("mlkit.hub.store.Session.commit", crash)
    with pytest.raises(KeyboardInterrupt):
        store.submit(release, "alice", b"work")
    monkeypatch.undo()
    assert store.submissions_of("alice") == []
    receipt = store.submit(release, "alice", b"work")  # the orphan blob is reused
    assert store.blobs.get(receipt.sha256) == b"work"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://exchange:pw@127.0.0.1/exchange", "expected sqlite:///PATH or postgresql+psycopg"),
        ("not a url", "db_url: got 'not a url'"),
        ("postgresql+psycopg://exchange:s3cret@127.0.0.1:9/exchange", "cannot be used: connection"),
    ],
)
def test_a_bad_or_silent_database_is_named_without_its_password(tmp_path, url, message):
    with pytest.raises(StoreDatabaseError, match=re.escape(message)) as refused:
        ExchangeStore(tmp_path / "data", url)
    assert "s3cret" not in str(refused.value)
