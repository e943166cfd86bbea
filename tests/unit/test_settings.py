"""Where the kit writes: the scratch folder of a checkout, and of a kit installed as a package."""

from pathlib import Path

from mlkit import settings


def test_a_checkout_keeps_its_scratch_folder_in_the_project(monkeypatch):
    monkeypatch.delenv(settings.SCRATCH_ENV, raising=False)
    assert settings.default_scratch() == settings.repo_root() / ".scratch"


def test_an_installed_kit_writes_under_the_users_cache(monkeypatch, tmp_path):
    site = tmp_path / "site-packages"  # what holds mlkit/ when installed: no pyproject.toml
    site.mkdir()
    monkeypatch.setattr(settings, "repo_root", lambda: site)
    monkeypatch.delenv(settings.SCRATCH_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert settings.default_scratch() == tmp_path / "cache" / "mlkit"
    assert settings.scratch_dir("bentoml") == tmp_path / "cache" / "mlkit" / "bentoml"
    assert (tmp_path / "cache" / "mlkit" / "bentoml").is_dir()
    assert list(site.iterdir()) == []
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert settings.default_scratch() == Path.home() / ".cache" / "mlkit"


def test_mlkit_scratch_wins(monkeypatch, tmp_path):
    monkeypatch.setenv(settings.SCRATCH_ENV, str(tmp_path / "elsewhere"))
    assert settings.scratch_dir("logs") == tmp_path / "elsewhere" / "logs"
