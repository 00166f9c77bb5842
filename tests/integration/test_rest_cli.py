"""The `tdses` user commands against org1's gateway: readable output, exit codes 0 (ok), 1 (API error), 2 (usage)."""

from __future__ import annotations

import json
import secrets
import signal
import stat

import pytest

from tdses.cli import main
from tests.support.gateways import secret_file

pytestmark = pytest.mark.integration



def test_a_developer_registers_logs_in_publishes_and_reads_its_balance(gateways, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path / "config"))
    url, tag = gateways.url("org1"), secrets.token_hex(3)
    admin_token = secret_file(tmp_path / "admin-token", gateways.admin_token("org1"))
    name, service = f"cli-dev-{tag}", f"cli-svc-{tag}"

    assert main(["user", "register", name, "--url", url, "--token-file", str(admin_token), "--login"]) == 0
    out = capsys.readouterr().out
    assert f"name: {name}" in out and "token: tdses_" in out
    credentials = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert json.loads(credentials.read_text())["url"] == url

    assert main(["service", "register", service, "--category", "weather", "--service-url", "https://w.example",
                 "--price", "2"]) == 0
    assert main(["service", "publish", service]) == 0
    assert "status: available" in capsys.readouterr().out
    assert main(["balance", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["account"] == name

    assert main(["rights", "buy", service, "1"]) == 1  # a developer cannot buy its own service
    err = capsys.readouterr().err
    assert "FORBIDDEN" in err and "403" in err
    assert main(["rights", "buy", f"missing-{tag}", "1"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err

    # Another user's token acts as that user, not as the one logged in.
    other = f"cli-other-{tag}"
    other_token = secret_file(tmp_path / "other-token", gateways.register("org1", other))
    assert main(["balance", "--json", "--token-file", str(other_token)]) == 0
    assert json.loads(capsys.readouterr().out)["account"] == other
    assert main(["balance", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["account"] == name

    # The other user lost their token: the admin resets it; the old one stops working.
    assert main(["user", "reset-token", other, "--json", "--token-file", str(admin_token)]) == 0
    reset = secret_file(tmp_path / "reset-token", json.loads(capsys.readouterr().out)["token"])
    assert main(["balance", "--json", "--token-file", str(other_token)]) == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().err
    assert main(["balance", "--json", "--token-file", str(reset)]) == 0
    assert json.loads(capsys.readouterr().out)["account"] == other


def test_usage_errors_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("TDSES_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["rights", "buy", "svc"])  # calls missing
    assert exited.value.code == 2
    assert main(["balance"]) == 2  # no gateway known yet
    assert "tdses login" in capsys.readouterr().err
    # Run in-process, the CLI leaves SIGPIPE ignored: a process that writes to a closed socket gets an error
    # instead of being killed (the REST gateway runs this CLI's `gateway serve`).
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
