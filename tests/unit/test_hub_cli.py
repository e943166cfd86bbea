"""The class exchange's commands and hub config, without a hub."""

from __future__ import annotations

import re

import pytest
from traitlets.config import Config
from typer.testing import CliRunner

from mlkit.cli import app
from mlkit.hub.config import HubSettings, hub_config, proxy_command
from mlkit.hub.exchange import INSTRUCT_SCOPE

runner = CliRunner()
NO_HUB = {"MLKIT_EXCHANGE_URL": "", "JUPYTERHUB_API_TOKEN": "", "JUPYTERHUB_SERVICE_URL": ""}


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (["exchange"], ""),
        (["hub-config"], "FOLDER"),
        (["release"], "NOTEBOOK"),
        (["fetch"], "LAB"),
        (["submit"], "NOTEBOOK"),
        (["submissions"], ""),
        (["collect"], "LAB"),
        (["return-feedback"], "LAB GRADING_OUT"),
        (["feedback"], "LAB"),
    ],
)
def test_help_reads_the_usual_way(command, usage):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert re.search(r"<(bool|str|int|float|path)[^>]*>", result.output) is None, result.output
    assert f"[OPTIONS] {usage}".rstrip() + "\n" in result.output


def test_calls_outside_a_hub_server_say_what_is_missing(tmp_path):
    notebook = tmp_path / "00_welcome.ipynb"
    notebook.write_text("{}")
    result = runner.invoke(app, ["submit", str(notebook)], env=NO_HUB)
    assert result.exit_code == 1
    assert "MLKIT_EXCHANGE_URL and JUPYTERHUB_API_TOKEN not set" in result.output
    served = runner.invoke(app, ["exchange", "--data", str(tmp_path)], env=NO_HUB)
    assert served.exit_code == 2 and "runs as a service of a JupyterHub" in served.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch", "3"], "lab '3' is not a lab number; expected two digits"),
        (["submit", "notes.ipynb"], "is not a file; expected the lab notebook"),
        (["release", "notes.ipynb", "--due", "2030-01-01"], "expected NN_topic.ipynb"),
    ],
)
def test_bad_arguments_are_named(args, message, tmp_path):
    env = {"MLKIT_EXCHANGE_URL": "http://127.0.0.1:9/", "JUPYTERHUB_API_TOKEN": "t"}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1 and message in result.output, result.output


def test_the_hub_config_keeps_everything_on_loopback_and_grants_instruct_to_the_group(tmp_path):
    settings = HubSettings(tmp_path, 8000, 8081, 8001, 8002, instructors=["ines"])
    config = Config()
    exec(
        hub_config(settings), {"get_config": lambda: config}
    )  # the config file, as the hub reads it
    hub = config.JupyterHub
    assert hub.ip == hub.hub_ip == "127.0.0.1"
    assert config.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:8001"
    assert config.ConfigurableHTTPProxy.command == [str(proxy_command())]
    (service,) = hub.services
    assert service["url"] == "http://127.0.0.1:8002" and service["command"][-4:-2] == [
        "--data",
        str(tmp_path / "exchange"),
    ]
    assert INSTRUCT_SCOPE in hub.custom_scopes
    roles = {role["name"]: role for role in hub.load_roles}
    assert roles["exchange-instructor"]["groups"] == ["instructors"]
    assert INSTRUCT_SCOPE in roles["exchange-instructor"]["scopes"]
    assert INSTRUCT_SCOPE not in roles["user"]["scopes"]
    assert hub.load_groups == {"instructors": {"users": ["ines"]}}
    assert config.Spawner.environment["MLKIT_EXCHANGE_URL"] == (
        "http://127.0.0.1:8000/services/exchange/"
    )


def test_the_exchange_database_goes_to_the_service_environment_not_its_command(tmp_path):
    url = "postgresql+psycopg://exchange:s3cret@127.0.0.1:5432/exchange"
    result = runner.invoke(app, ["hub-config", str(tmp_path), "--exchange-db-url", url])
    assert result.exit_code == 0, result.output
    path = tmp_path / "jupyterhub_config.py"
    assert path.stat().st_mode & 0o777 == 0o600  # the file holds the password
    config = Config()
    exec(path.read_text(), {"get_config": lambda: config})
    (service,) = config.JupyterHub.services
    assert service["environment"] == {"MLKIT_EXCHANGE_DB_URL": url}
    assert not any("s3cret" in part for part in service["command"])
    default = Config()
    exec(hub_config(HubSettings(tmp_path, 8000, 8081, 8001, 8002)), {"get_config": lambda: default})
    assert "environment" not in default.JupyterHub.services[0]
