"""`mlkit.submit()` in a lab's last cell: it submits from a hub server, and sends nothing
when the grader runs the notebook (the grader's sandbox sets MLKIT_GRADING)."""

import nbformat
import pytest

import mlkit
from mlkit.hub.client import TOKEN_ENV, URL_ENV, ExchangeError
from mlkit.settings import GRADING_ENV


@pytest.fixture
def lab(tmp_path, monkeypatch):
    path = tmp_path / "01_packaging.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    return path


def test_under_the_grader_submit_sends_nothing(lab, monkeypatch, capsys):
    monkeypatch.setenv(GRADING_ENV, "1")
    assert mlkit.submit(lab.name) == {}
    assert "not sent, the grader is running this notebook" in capsys.readouterr().out


def test_elsewhere_submit_needs_the_hubs_address_and_token(lab, monkeypatch):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    with pytest.raises(ExchangeError, match=f"{URL_ENV} and {TOKEN_ENV} not set"):
        mlkit.submit(lab.name)
