"""The command line's own rules, without a gateway: a lost answer tells how to retry at most once, tokens are
read safely, an edit sends only what it changes."""

from __future__ import annotations

import argparse
import json
import socket
import threading

import pytest

from tdses.cli import main
from tdses.rest.cli import _service_body, seg


def one_answer_server(answer: bytes) -> tuple[socket.socket, list[bytes]]:
    """A server that reads each request, sends `answer` and closes the connection; and the requests it saw."""
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
                connection.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return server, seen


@pytest.fixture
def hangs_up():
    """A server that closes each connection without answering: the requests it saw."""
    server, seen = one_answer_server(b"")
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


@pytest.fixture
def redirects():
    """A server that answers every request with 308 to another address (an http→https redirect, say)."""
    server, _ = one_answer_server(b"HTTP/1.1 308 Permanent Redirect\r\nLocation: https://gateway.example/v1/x\r\n"
                                  b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_a_redirect_is_an_error_that_names_where_not_a_success(redirects, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path / "config"))
    (tmp_path / "token").write_text("a-token\n")
    for argv in (["rights", "buy", "weather", "5"], ["transfer", "bob", "100", "--json"]):
        assert main([*argv, "--url", redirects, "--token-file", str(tmp_path / "token")]) == 1
        captured = capsys.readouterr()
        assert "308" in captured.err and "https://gateway.example/v1/x" in captured.err and captured.out == ""


@pytest.mark.parametrize("saved", ["[]", "null", '"x"', '{"url": "http://127.0.0.1:9", "token": 7, "user": []}'])
def test_a_credentials_file_that_is_not_one_counts_as_none(saved, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path))
    (tmp_path / "credentials.json").write_text(saved)
    assert main(["balance", "alice", "--url", "http://127.0.0.1:9"]) == 1  # on to the (unreachable) gateway
    assert "cannot reach" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["", "G T", "GET\r\nX: 1"])
def test_a_call_s_method_must_be_an_http_method(method, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path))
    (tmp_path / "token").write_text("a-token\n")
    assert main(["call", "weather", "http://127.0.0.1:9/f", "--method", method, "--url", "http://127.0.0.1:9",
                 "--token-file", str(tmp_path / "token")]) == 2
    assert "is not an HTTP method" in capsys.readouterr().err


def test_a_saved_token_is_never_readable_under_an_older_files_mode(tmp_path, monkeypatch):
    import stat

    from tdses.rest import cli as rest_cli

    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path / "config"))
    (tmp_path / "config").mkdir(mode=0o755)
    older = tmp_path / "config" / "credentials.json"
    older.write_text("{}")
    older.chmod(0o644)
    with older.open() as someone_elses:  # opened while the mode let them
        rest_cli._write_credentials({"url": "http://127.0.0.1:7070", "token": "tdses_secret"})
        assert someone_elses.read() == "{}"
    assert stat.S_IMODE(older.stat().st_mode) == 0o600
    assert json.loads(older.read_text())["token"] == "tdses_secret"
    assert [p.name for p in (tmp_path / "config").iterdir()] == ["credentials.json"]
