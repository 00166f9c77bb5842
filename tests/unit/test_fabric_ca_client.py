"""fabric_ca against a fake fabric-ca-server that checks requests the way fabric-ca 1.5 does."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import ssl
import threading

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from fabric_ca import (
    AsyncCAClient,
    Attribute,
    CAClient,
    CAError,
    Enrollment,
    ERR_AUTHENTICATION_FAILURE,
    new_csr,
    token_payload,
)

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CA_NAME = "ca-org1"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class FakeCA:
    """Issues certificates for CSRs and verifies tokens as util.VerifyToken does (method.b64 uri.b64 body.b64 cert)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca.org1.example.com")])
        self.cert = self._issue(self.name, self.key.public_key(), ca=True)
        self.requests: list[dict] = []
        self.secrets = {"admin": "adminpw"}
        self.failure: tuple[int, bytes] | None = None

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def _issue(self, subject, public_key, ca=False, sans=None):
        now = dt.datetime.now(dt.timezone.utc)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.name).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def verify_token(self, request: httpx.Request) -> x509.Certificate:
        b64cert, b64sig = request.headers["authorization"].split(".")
        cert_pem = base64.b64decode(b64cert)
        cert = x509.load_pem_x509_certificate(cert_pem)
        signature = base64.b64decode(b64sig)
        uri = request.url.raw_path.decode()
        signed = f"{request.method}.{b64(uri.encode())}.{b64(request.content)}.{b64cert}".encode()
        cert.public_key().verify(signature, signed, ec.ECDSA(hashes.SHA256()))
        assert decode_dss_signature(signature)[1] <= P256_ORDER // 2, "fabric-ca's BCCSP rejects high-S"
        cert.verify_directly_issued_by(self.cert)
        return cert

    def _error(self, status: int, code: int, message: str) -> httpx.Response:
        body = {"success": False, "result": None, "errors": [{"code": code, "message": message}], "messages": []}
        return httpx.Response(status, json=body)

    def _ok(self, result) -> httpx.Response:
        return httpx.Response(200, json={"success": True, "result": result, "errors": [], "messages": []})

    def _issue_for(self, body: dict, enrollment_id: str) -> dict:
        csr = x509.load_pem_x509_csr(body["certificate_request"].encode())
        assert csr.is_signature_valid
        cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        if cn != enrollment_id:
            raise ValueError("CN must be the enrollment ID")
        sans = [x509.DNSName(h) for h in body.get("hosts", [])]
        cert = self._issue(csr.subject, csr.public_key(), sans=sans)
        return {
            "Cert": b64(cert.public_bytes(serialization.Encoding.PEM)),
            "ServerInfo": {"CAName": CA_NAME, "CAChain": b64(self.cert_pem), "Version": "1.5.13"},
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.failure:
            status, content = self.failure
            return httpx.Response(status, content=content)
        body = json.loads(request.content) if request.content else {}
        endpoint = request.url.path.rsplit("/", 1)[-1]
        record = {"endpoint": endpoint, "path": request.url.path, "body": body, "headers": request.headers}
        self.requests.append(record)
        if endpoint == "cainfo":
            return self._ok({"CAName": CA_NAME, "CAChain": b64(self.cert_pem), "Version": "1.5.13",
                             "IssuerPublicKey": "", "IssuerRevocationPublicKey": ""})
        if endpoint == "enroll":
            scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
            user, _, secret = base64.b64decode(credentials).decode().partition(":")
            if scheme != "Basic" or self.secrets.get(user) != secret:
                return self._error(401, ERR_AUTHENTICATION_FAILURE, "Authentication failure")
            return self._ok(self._issue_for(body, user))
        try:
            caller = self.verify_token(request)
        except Exception:
            return self._error(401, 25, "Invalid token in authorization header")
        record["caller"] = caller.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        if endpoint == "register":
            if body["id"] in self.secrets:
                return self._error(409, 74, f"Identity '{body['id']}' is already registered")
            self.secrets[body["id"]] = body.get("secret") or "generated-secret"
            return self._ok({"secret": self.secrets[body["id"]]})
        if endpoint == "reenroll":
            return self._ok(self._issue_for(body, record["caller"]))
        if endpoint == "revoke":
            return self._ok({"RevokedCerts": [{"Serial": "1a2b", "AKI": "cafe"}], "CRL": b64(b"crl-bytes")})
        if request.method == "GET" and request.url.path.startswith("/api/v1/identities/"):
            if request.url.params.get("ca") != CA_NAME:
                return self._error(404, 19, "CA not found")
            if endpoint not in self.secrets:
                return self._error(404, 63, "Failed to get User: sql: no rows in result set")
            return self._ok({"id": endpoint, "type": "client", "affiliation": "", "max_enrollments": 1,
                             "attrs": [{"name": "hf.Type", "value": "client", "ecert": True}], "caname": CA_NAME})
        return self._error(404, 0, "no such endpoint")


@pytest.fixture
def ca():
    return FakeCA()


@pytest.fixture
def client(ca):
    with CAClient("https://ca.org1.example.com:7054", ca_name=CA_NAME, transport=httpx.MockTransport(ca)) as c:
        yield c


@pytest.fixture
def admin(client):
    return client.enroll("admin", "adminpw")


def test_token_payload_is_method_and_base64_uri_body_and_cert():
    payload = token_payload("post", "/api/v1/register", b'{"id":"a"}', b"PEM")
    assert payload == b"POST.L2FwaS92MS9yZWdpc3Rlcg==.eyJpZCI6ImEifQ==.UEVN"


def test_enroll_sends_a_csr_with_the_enrollment_id_as_cn_for_a_local_p256_key(client, ca):
    enrollment = client.enroll("admin", "adminpw", csr_hosts=["gw.org1.example.com"], profile="tls")
    key, certificate = enrollment  # unpacks as (key, certificate)
    sent = ca.requests[-1]
    assert sent["path"] == "/api/v1/enroll"
    assert sent["headers"]["authorization"] == "Basic " + b64(b"admin:adminpw")
    assert sent["body"]["caname"] == CA_NAME and sent["body"]["profile"] == "tls"
    assert sent["body"]["hosts"] == ["gw.org1.example.com"]
    assert "private" not in json.dumps(sent["body"]).lower()

    csr = x509.load_pem_x509_csr(sent["body"]["certificate_request"].encode())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    assert csr.public_key().curve.name == "secp256r1"
    assert csr.signature_hash_algorithm.name == "sha256"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw.org1.example.com"]

    cert = x509.load_pem_x509_certificate(certificate)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert enrollment.enrollment_id == "admin"
    assert enrollment.ca_chain == ca.cert_pem


def test_wrong_secret_is_a_ca_error_with_the_ca_code(client):
    with pytest.raises(CAError) as caught:
        client.enroll("admin", "wrong")
    assert caught.value.status_code == 401
    assert caught.value.codes == [ERR_AUTHENTICATION_FAILURE]
    assert "Authentication failure" in str(caught.value)


def test_register_is_authenticated_with_a_token_the_ca_accepts(client, ca, admin):
    secret = client.register(
        admin, "alice", type="client", affiliation="org1.department1",
        attributes={"tdses.role": "developer"}, max_enrollments=1, secret="alicepw",
    )
    assert secret == "alicepw"
    sent = ca.requests[-1]
    assert sent["caller"] == "admin"  # the fake CA verified the token over method, URI, body and cert
    assert sent["body"] == {
        "id": "alice", "type": "client", "affiliation": "org1.department1", "secret": "alicepw",
        "max_enrollments": 1, "attrs": [{"name": "tdses.role", "value": "developer"}], "caname": CA_NAME,
    }
    key, cert = client.enroll("alice", secret)
    assert x509.load_pem_x509_certificate(cert).subject.rfc4514_string() == "CN=alice"


def test_register_without_secret_returns_the_generated_one_and_ecert_attributes(client, ca, admin):
    assert client.register(admin, "bob", attributes=[Attribute("hf.Revoker", "true", ecert=True)]) == "generated-secret"
    assert ca.requests[-1]["body"]["attrs"] == [{"name": "hf.Revoker", "value": "true", "ecert": True}]
    assert "secret" not in ca.requests[-1]["body"]


def test_duplicate_registration_reports_code_74(client, admin):
    with pytest.raises(CAError) as caught:
        client.register(admin, "admin")
    assert caught.value.status_code == 409 and caught.value.has_code(74)


def test_identity_is_what_the_ca_holds_of_a_name_and_none_for_an_unknown_one(client, ca, admin):
    client.register(admin, "carol", max_enrollments=1)
    carol = client.identity(admin, "carol")
    assert (carol.id, carol.type, carol.max_enrollments) == ("carol", "client", 1)
    assert carol.attributes == (Attribute("hf.Type", "client", ecert=True),)
    asked = ca.requests[-1]  # the token signed the path with its query, as fabric-ca verifies it
    assert asked["path"] == "/api/v1/identities/carol" and asked["caller"] == "admin"
    assert client.identity(admin, "nobody") is None
    ca.failure = (500, b"")
    with pytest.raises(CAError):  # anything else is the CA's error, not "no such identity"
        client.identity(admin, "carol")


def test_token_signed_by_another_key_is_rejected(client, ca, admin):
    impostor = Enrollment(ec.generate_private_key(ec.SECP256R1()), admin.certificate)
    with pytest.raises(CAError) as caught:
        client.register(impostor, "mallory")
    assert caught.value.codes == [25]


def test_token_signs_the_full_request_uri_behind_a_path_prefix(ca, admin):
    with CAClient("https://proxy.example.com/ca1/", transport=httpx.MockTransport(ca)) as prefixed:
        prefixed.register(admin, "carol")
    assert ca.requests[-1]["path"] == "/ca1/api/v1/register"
    assert ca.requests[-1]["caller"] == "admin"
    assert "caname" not in ca.requests[-1]["body"]


def test_tokens_are_always_low_s(client, ca, admin):
    for n in range(24):  # half of raw ECDSA signatures are high-S; the fake CA rejects those
        client.register(admin, f"user{n}")
    assert len(ca.requests) == 1 + 24


def test_reenroll_gets_a_new_certificate_and_a_new_key_unless_reused(client, ca, admin):
    renewed = client.reenroll(admin)
    sent = ca.requests[-1]
    assert sent["endpoint"] == "reenroll" and sent["caller"] == "admin"
    assert renewed.enrollment_id == "admin" and renewed.certificate != admin.certificate
    assert renewed.key.public_key().public_numbers() != admin.key.public_key().public_numbers()
    kept = client.reenroll(renewed, reuse_key=True)
    assert kept.key is renewed.key
    assert x509.load_pem_x509_certificate(kept.certificate).public_key().public_numbers() == renewed.key.public_key().public_numbers()


def test_revoke_sends_the_name_reason_and_gencrl_and_reads_the_crl(client, ca, admin):
    result = client.revoke(admin, "alice", reason="keycompromise", gencrl=True)
    assert ca.requests[-1]["body"] == {"id": "alice", "reason": "keycompromise", "gencrl": True, "caname": CA_NAME}
    assert [(c.serial, c.aki) for c in result.revoked] == [("1a2b", "cafe")]
    assert result.crl == b"crl-bytes"
    with pytest.raises(ValueError):
        client.revoke(admin)


def test_ca_info(client, ca):
    info = client.get_ca_info()
    assert (info.ca_name, info.version, info.ca_chain) == (CA_NAME, "1.5.13", ca.cert_pem)
    assert ca.requests[-1]["body"] == {"caname": CA_NAME}


def test_a_non_json_answer_is_a_ca_error_with_the_http_status(client, ca):
    ca.failure = (502, b"<html>Bad Gateway</html>")
    with pytest.raises(CAError) as caught:
        client.get_ca_info()
    assert caught.value.status_code == 502 and caught.value.errors == [] and "Bad Gateway" in str(caught.value)


def test_enrollment_round_trips_through_encrypted_pem_files(tmp_path, admin):
    (tmp_path / "cert.pem").write_bytes(admin.certificate)
    (tmp_path / "key.pem").write_bytes(admin.key_pem(password="pw"))
    loaded = Enrollment.from_files(tmp_path / "cert.pem", tmp_path / "key.pem", password="pw")
    assert loaded.key.private_numbers() == admin.key.private_numbers()
    assert loaded.enrollment_id == "admin"


async def test_async_client_registers_and_enrolls(ca):
    transport = httpx.MockTransport(ca)
    async with AsyncCAClient("https://ca:7054", ca_name=CA_NAME, transport=transport) as client:
        admin = await client.enroll("admin", "adminpw")
        secret = await client.register(admin, "dave")
        dave = await client.enroll("dave", secret)
    assert dave.enrollment_id == "dave"
    assert ca.requests[1]["caller"] == "admin"


def test_tls_root_certificate_is_used_to_verify_the_ca_server(ca, tmp_path):
    """A real HTTPS server whose certificate is issued by the fake CA: trusted only with tls_root_certs."""
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = ca._issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), server_key.public_key(),
        sans=[x509.DNSName("localhost")],
    )
    (tmp_path / "server.pem").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"success": True, "result": {"CAName": "tls-ca", "CAChain": "", "Version": "1.5"},
                               "errors": [], "messages": []}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://localhost:{server.server_address[1]}"
    try:
        with CAClient(url, tls_root_certs=tmp_path / "ca.pem") as trusted:
            assert trusted.get_ca_info().ca_name == "tls-ca"
        with CAClient(url) as untrusted:
            with pytest.raises(httpx.ConnectError):
                untrusted.get_ca_info()
    finally:
        server.shutdown()
        server.server_close()


def test_enroll_csr_sends_the_holders_csr_and_returns_only_the_certificate(client, ca):
    key = ec.generate_private_key(ec.SECP256R1())
    csr_pem = new_csr("alice", key).decode()
    ca.secrets["alice"] = "pw"
    certificate = client.enroll_csr("alice", "pw", csr_pem)
    sent = ca.requests[-1]
    assert sent["path"] == "/api/v1/enroll" and sent["body"] == {"certificate_request": csr_pem, "caname": CA_NAME}
    cert = x509.load_pem_x509_certificate(certificate)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    with pytest.raises(CAError) as refused:
        client.enroll_csr("alice", "wrong", csr_pem)
    assert refused.value.status_code == 401
