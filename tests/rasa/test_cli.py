"""`settle rasa-actions`: the real command serving Rasa, its refusals, and the missing extra."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import typer
from typer.testing import CliRunner

import bots
from dialogue import Nlu
from dialogue.nlu.store import DEFAULT_MODEL_PATH
from models import make_engine, upgrade
from settle.cli_rasa import rasa_actions
from settle.settings import ConfigError
from tests.conftest import TEST_KEY
from tests.rasa.conftest import RasaUser, texts

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def command() -> typer.Typer:
    app = typer.Typer()
    app.command()(rasa_actions)
    return app


@pytest.fixture
def settings_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A checkout-like directory with no var/settle.env and a fresh SQLite database."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SETTLE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SETTLE_ENCRYPTION_KEY", TEST_KEY)
    monkeypatch.setenv("SETTLE_DATABASE_URL", f"sqlite:///{tmp_path / 'settle.db'}")
    return tmp_path


def test_without_the_extra_the_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if rasa-sdk had never been installed: every import of it fails.
    for name in [n for n in sys.modules if n == "rasa_sdk" or n.startswith("rasa_sdk.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "rasa_sdk", None)
    monkeypatch.delitem(sys.modules, "bots.rasa_actions", raising=False)
    monkeypatch.delattr(bots, "rasa_actions", raising=False)

    result = runner.invoke(command(), [])

    assert result.exit_code == 1
    assert "install settle[rasa]" in result.output


@pytest.mark.usefixtures("settings_environment")
def test_listening_beyond_this_machine_needs_a_token() -> None:
    result = runner.invoke(command(), ["--host", "0.0.0.0"])  # noqa: S104

    assert isinstance(result.exception, ConfigError)
    assert "SETTLE_RASA_ACTION_TOKEN: required" in str(result.exception)


@pytest.mark.usefixtures("settings_environment")
def test_a_short_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_RASA_ACTION_TOKEN", "short")

    result = runner.invoke(command(), [])

    assert isinstance(result.exception, ConfigError)
    assert "at least 16 characters" in str(result.exception)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(settings_environment: Path, nlu: Nlu) -> Iterator[str]:
    """`settle rasa-actions` in its own process, on a migrated empty database."""
    engine = make_engine(os.environ["SETTLE_DATABASE_URL"], cipher=None)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    environment = {
        **os.environ,
        # The model the `nlu` fixture made sure is trained.
        "SETTLE_NLU_MODEL_PATH": str(ROOT / DEFAULT_MODEL_PATH),
        "SETTLE_RASA_ACTION_TOKEN": "rasa-cli-token-0123456789",
    }
    script = "import typer; from settle.cli_rasa import rasa_actions; typer.run(rasa_actions)"
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", script, "--port", str(port)],
        cwd=settings_environment,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx2.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.5)
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"settle rasa-actions exited with {process.returncode}:\n{output}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_command_serves_rasa_over_http(served: str) -> None:
    with httpx2.Client(base_url=served, timeout=60) as client:
        user = RasaUser(client)
        body = user.request("action_settle_balance", "what do I owe", intent="check_balance")

        refused = user.post(body)
        answered = user.post(body, token="rasa-cli-token-0123456789")

    assert refused.status_code == 401
    assert answered.status_code == 200
    assert "mobile number on the account" in texts(answered.json())
