"""Pid files identify exactly the process we started; stop() never signals a stranger."""

import datetime
import socket
import ssl
import sys
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tdses import probes
from tdses.local import processes


def test_start_then_stop_a_process_group(tmp_path):
    pid_file = tmp_path / "run" / "sleeper.pid"
    pid = processes.start([sys.executable, "-c", "import time; time.sleep(60)"], {}, tmp_path / "sleeper.log",
                          pid_file, cwd=tmp_path)
    assert processes.running_pid(pid_file) == pid
    assert processes.stop(pid_file) is True
    assert processes.running_pid(pid_file) is None and not pid_file.exists()
    assert processes.stop(pid_file) is False  # twice is harmless


def test_a_reused_pid_is_not_ours(tmp_path):
    pid_file = tmp_path / "other.pid"
    pid_file.write_text(f"1 0\n")  # pid 1 exists, but it did not start at time 0
    assert processes.running_pid(pid_file) is None
    assert processes.stop(pid_file) is False


def test_garbage_pid_files_are_ignored(tmp_path):
    pid_file = tmp_path / "garbage.pid"
    pid_file.write_text("not a pid")
    assert processes.running_pid(pid_file) is None


def test_wait_until_reports_a_process_that_died(tmp_path):
    pid_file, log = tmp_path / "dies.pid", tmp_path / "dies.log"
    processes.start([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], {}, log, pid_file, cwd=tmp_path)
    time.sleep(0.5)
    try:
        processes.wait_until(lambda: False, "dies", 10, pid_file, log)
    except Exception as exc:  # noqa: BLE001
        assert "dies exited during start-up" in str(exc) and "boom" in str(exc)
    else:
        raise AssertionError("wait_until did not notice the dead process")


def test_a_socket_connected_to_itself_is_no_listener():
    # What a health check meets when the kernel picks the port it polls as its own source port: TCP's
    # simultaneous open connects the socket to itself, and it reads back whatever it sends.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.connect(s.getsockname())
        assert probes.self_connected(s)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            assert not probes.self_connected(client)
        assert probes.accepts(server.getsockname()[1])


def test_an_answer_that_is_not_http_is_not_healthy():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def echo() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(4096))

        threading.Thread(target=echo, daemon=True).start()
        assert processes.healthz(server.getsockname()[1]) is False


def test_a_node_serves_tls_only_once_a_handshake_completes(tmp_path):
    """What tells a Fabric node that loaded its TLS key from one whose operations server answered just before it
    failed to: a TLS handshake on its gRPC port, not a listener."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "peer0")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(hours=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.set_alpn_protocols(["h2"])

    def serve(server: socket.socket, tls: bool) -> None:
        conn, _ = server.accept()
        with conn:
            if tls:
                with context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)  # until the client closes
            # else: a listener that closes at once, as a node exiting over its key does

    for tls in (True, False):
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            thread = threading.Thread(target=serve, args=(server, tls), daemon=True)
            thread.start()
            assert probes.serves_tls(server.getsockname()[1]) is tls
            thread.join(5)


def test_up_waits_until_every_peer_s_gossip_knows_all_the_others(tmp_path, monkeypatch):
    """Discovery plans endorsements from gossip: gateways start once each peer knows the channel's other five."""
    import io

    from tdses.fabric.state import State
    from tdses.fabric.topology import load
    from tdses.local.network import Network

    network = Network(State(tmp_path), load("default", 20000))
    asked = []

    def metric(port, name, label):
        assert (name, label) == ("gossip_membership_total_peers_known", 'channel="tdses"')
        asked.append(port)
        return 5.0 if len(asked) > 2 else 4.0  # peer0.org1 knows only four others, twice

    monkeypatch.setattr(processes, "metric", metric)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    out = io.StringIO()
    network.wait_peers_known(out)
    assert "waiting until every peer's gossip knows" in out.getvalue()
    assert len(asked) == 1 + 1 + 6  # a round stops at the first peer short of five, then all six are asked
