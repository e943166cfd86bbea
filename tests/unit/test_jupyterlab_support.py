"""support.jupyterlab: JupyterLab starts on 127.0.0.1 with a token, isolated, and stops fully."""

import json
import socket

import pytest
from support.jupyterlab import JupyterLabStartError, start_jupyterlab

from mlkit._runtime.net import LOCALHOST, http_ok, is_listening


def test_serves_with_a_token_only_and_stops(tmp_path):
    (tmp_path / "root").mkdir()
    home = tmp_path / "home"
    with start_jupyterlab(tmp_path / "root", home=home) as lab:
        assert http_ok(f"{lab.url}api/status?token={lab.token}")
        assert not http_ok(f"{lab.url}api/status")
        assert lab.url == f"http://{LOCALHOST}:{lab.port}/"
    assert lab.process.poll() is not None
    assert not is_listening(lab.port)
    notification = home / "config/lab/user-settings/@jupyterlab/apputils-extension"
    settings = json.loads((notification / "notification.jupyterlab-settings").read_text())
    assert settings == {"fetchNews": "false", "checkForUpdates": False}


def test_a_busy_port_raises_with_the_server_log(tmp_path):
    with socket.socket() as busy:
        busy.bind((LOCALHOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(JupyterLabStartError) as err:
            with start_jupyterlab(tmp_path, port=port, home=tmp_path / "home", timeout=30):
                pass
    assert err.value.returncode not in (None, 0)
    assert str(port) in err.value.log_tail
    assert str(err.value.log_path) in str(err.value)


def test_bad_arguments_name_what_was_expected(tmp_path):
    with pytest.raises(NotADirectoryError, match="root_dir must be an existing folder"):
        with start_jupyterlab(tmp_path / "missing"):
            pass
    with pytest.raises(ValueError, match="plugin ids like"):
        with start_jupyterlab(tmp_path, settings={"windowingMode": "none"}):
            pass
