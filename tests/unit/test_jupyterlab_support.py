"""support.jupyterlab: JupyterLab starts on 127.0.0.1 with a token and the kit's configuration,
and stops completely; `make lab` runs the same command."""

import json
import shlex
import shutil
import socket
import subprocess
import urllib.request

import pytest
from conftest import skip_or_fail
from jupyter_client import BlockingKernelClient
from support.jupyterlab import LAB_CONFIG_DIR, JupyterLabStartError, lab_command, start_jupyterlab

from mlkit._runtime.net import LOCALHOST, free_port, http_ok, is_listening
from mlkit.settings import repo_root

LEARNER_FOLDERS = ["course", "labs"]
INSTRUCTOR_FOLDERS = ["solutions", "tests", "bench", "submissions", "grading-out"]
TCP_WARNING = "running over TCP without encryption"


def _api(lab, path: str, method: str = "GET", body: dict | None = None) -> dict:
    """JSON answer of the server's REST API at path."""
    request = urllib.request.Request(
        f"{lab.url}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {lab.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture(scope="module")
def kit_lab(tmp_path_factory):
    """One JupyterLab on a project-like folder, with the kit's configuration."""
    root = tmp_path_factory.mktemp("project")
    for name in LEARNER_FOLDERS + INSTRUCTOR_FOLDERS:
        (root / name).mkdir()
        (root / name / "notes.md").write_text(f"{name}\n")
    with start_jupyterlab(root, home=tmp_path_factory.mktemp("home")) as lab:
        yield lab


def test_serves_with_a_token_only_and_stops(tmp_path):
    (tmp_path / "root").mkdir()
    with start_jupyterlab(tmp_path / "root", home=tmp_path / "home") as lab:
        assert http_ok(f"{lab.url}api/status?token={lab.token}")
        assert not http_ok(f"{lab.url}api/status")
        assert lab.url == f"http://{LOCALHOST}:{lab.port}/"
    assert lab.process.poll() is not None
    assert not is_listening(lab.port)


def test_make_lab_runs_lab_command_with_the_kit_config():
    if shutil.which("make") is None:
        skip_or_fail("needs GNU make to read `make lab`'s command line")
    port = free_port()
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "lab", f"LAB_PORT={port}"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The last command is the lab's (setup's commands come first when it is out of date).
    words = shlex.split(dry_run.replace("\\\n", " ").strip().splitlines()[-1])
    env = {}
    while "=" in words[0] and not words[0].startswith("-"):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert env == {"JUPYTER_CONFIG_PATH": str(LAB_CONFIG_DIR)}
    assert words[0] == ".venv/bin/python", "make lab runs the kit's venv python"
    assert words[1:] == lab_command(repo_root(), port=port)[1:]


def test_learners_see_course_and_labs_but_no_instructor_folders(kit_lab):
    listed = {item["name"] for item in _api(kit_lab, "api/contents")["content"]}
    assert set(LEARNER_FOLDERS) <= listed, f"the Lab lists {sorted(listed)}"
    shown = listed & set(INSTRUCTOR_FOLDERS)
    assert not shown, f"the Lab lists instructor folders: {sorted(shown)}"


def test_news_and_update_checks_are_off_by_default(kit_lab):
    # JupyterLab asks in a toast whether to fetch news while `fetchNews` is "none".
    plugin = _api(kit_lab, "lab/api/settings/@jupyterlab/apputils-extension:notification")
    assert plugin["settings"] == {}, "the test's Lab has no user settings of its own"
    defaults = {key: value.get("default") for key, value in plugin["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false"
    assert defaults["checkForUpdates"] is False
    assert _api(kit_lab, "lab/api/news") == {"news": []}


def test_a_kernel_starts_encrypted_and_without_the_tcp_warning(kit_lab):
    kernel = _api(kit_lab, "api/kernels", "POST", {"name": "python3"})
    try:
        connection_file = kit_lab.home / "runtime" / f"kernel-{kernel['id']}.json"
        assert "curve_publickey" in json.loads(connection_file.read_text())
        client = BlockingKernelClient()
        client.load_connection_file(str(connection_file))
        client.start_channels(iopub=False, stdin=False, hb=False)
        try:
            # The kernel writes the warning before it listens, so before it can answer.
            request = client.kernel_info()
            reply = client.get_shell_msg(timeout=120)
        finally:
            client.stop_channels()
        assert reply["parent_header"]["msg_id"] == request
        assert "Kernel started" in kit_lab.log_tail(200)
        assert TCP_WARNING not in kit_lab.log_path.read_text()
    finally:
        _api(kit_lab, f"api/kernels/{kernel['id']}", "DELETE")


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
