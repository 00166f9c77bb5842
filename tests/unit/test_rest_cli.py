"""The command line's own rules, without a gateway: a lost answer tells how to retry at most once, tokens are
read safely, an edit sends only what it changes."""

from __future__ import annotations

import argparse
import socket
import threading

import pytest

from tdses.cli import main
from tdses.rest.cli import _service_body, seg


@pytest.fixture
def hangs_up():
    """A server that reads each request and closes the connection without answering: the requests it saw."""
    seen: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                seen.append(connection.recv(65536))

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", seen
    server.close()


def test_a_write_whose_answer_is_lost_says_how_to_run_it_again_at_most_once(hangs_up, tmp_path, capsys,
                                                                             monkeypatch):
    url, seen = hangs_up
    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path / "config"))
    token = tmp_path / "token"
    token.write_text("a-token\n")
    assert main(["rights", "buy", "weather", "1", "--url", url, "--token-file", str(token)]) == 1
    err = capsys.readouterr().err
    assert "may have taken effect" in err and "cannot reach" not in err
    key = err.split("--idempotency-key ")[1].split()[0]
    assert f"idempotency-key: {key}".encode() in seen[-1].lower()
    assert main(["rights", "buy", "weather", "1", "--url", url, "--token-file", str(token),
                 "--idempotency-key", key]) == 1
    assert f"idempotency-key: {key}".encode() in seen[-1].lower()  # the same key: the gateway runs it once


@pytest.mark.parametrize("content", [b"SECRET1\nSECRET2\n", b"SECRET\xc3\xb6", b"SECRET\xff\xfe", b"  \n"])
def test_a_token_file_must_hold_one_line_of_ascii_and_is_never_echoed(content, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path / "config"))
    token = tmp_path / "token"
    token.write_bytes(content)
    assert main(["balance", "--url", "http://127.0.0.1:9", "--token-file", str(token)]) == 2
    err = capsys.readouterr().err
    assert "one line of printable ASCII" in err and "SECRET" not in err
    assert main(["login", "--url", "http://127.0.0.1:9", "--token-file", str(token)]) == 2


def test_an_edit_sends_only_the_qos_figure_it_changes():
    edit = argparse.Namespace(category=None, service_url=None, price=None, description=None, require_vouchers=None,
                              latency_ms=50, availability_bp=None)
    assert _service_body(edit) == {"qos": {"latencyMs": 50}}


def test_a_name_stays_one_path_segment():
    assert seg("a/../../users/me") == "a%2F..%2F..%2Fusers%2Fme" and seg("x?y=1") == "x%3Fy%3D1"
    assert seg("..") == "%2E%2E" and seg("org:Org1MSP") == "org%3AOrg1MSP"


@pytest.mark.parametrize("argv", [
    ["balance", "--url", "http://127.0.0.1:9", "--token-file", "TOKEN", "--idempotency-key", "cl\u00e9"],
    ["index", "status", "--config", "/nonexistent.yaml"],
    ["gateway", "serve", "--config", "BAD_YAML"],
    ["meter", "--listen", "127.0.0.1:99999", "--upstream", "http://127.0.0.1:9000", "--token-file", "TOKEN",
     "--service", "s", "--gateway", "http://127.0.0.1:7070"],
    ["meter", "--listen", "127.0.0.1:9999", "--upstream", "http://[::1", "--token-file", "TOKEN",
     "--service", "s", "--gateway", "http://127.0.0.1:7070"],
    ["meter", "--listen", "127.0.0.1:9999", "--upstream", "http://127.0.0.1:9000", "--token-file", "TOKEN",
     "--service", "s", "--gateway", "http://127.0.0.1:7070", "--lookups-per-second", "0"],
    ["login", "--url", "ftp://gateway.example", "--token-file", "TOKEN"],
    ["login", "--url", "", "--token-file", "TOKEN"],
    ["balance", "--url", "http://", "--token-file", "TOKEN"],
])
def test_bad_configurations_and_addresses_are_usage_errors_not_tracebacks(argv, tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("org: [unclosed\n")
    (tmp_path / "token").write_text("t\n")
    argv = [{"BAD_YAML": str(tmp_path / "bad.yaml"), "TOKEN": str(tmp_path / "token")}.get(a, a) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(("error:", "usage error:"))
