"""MSP and TLS material: cryptogen for the organizations, our TLS CA for CA and chaincode servers.

cryptogen gives each organization a root CA (which its fabric-ca-server then signs with, so enrolled
identities belong to the MSP), a TLS CA, node identities with NodeOUs, and an admin. The TLS key pairs of
fabric-ca-servers and chaincode servers are issued here from the organization's TLS CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tdses.fabric.errors import NetworkError
from tdses.fabric.state import State
from tdses.fabric.topology import LOOPBACK, Node, Topology

def sans(node: Node) -> list[str]:
    """Names a node's TLS certificate is valid for: its MSP host name, how it is reached, and loopback."""
    return sorted({node.name, node.host, "localhost", LOOPBACK})


def crypto_config(topology: Topology) -> dict:
    def specs(nodes: list[Node]) -> list[dict]:
        return [{"Hostname": n.name.split(".")[0], "SANS": sans(n)} for n in nodes]

    o = topology.orderer_org
    return {
        "OrdererOrgs": [{"Name": o.name, "Domain": o.domain, "EnableNodeOUs": True, "Specs": specs(o.orderers)}],
        "PeerOrgs": [
            {
                "Name": org.name,
                "Domain": org.domain,
                "EnableNodeOUs": True,
                "Specs": specs(org.peers),
                "Users": {"Count": 0},
            }
            for org in topology.orgs
        ],
    }


def generate(topology: Topology, state: State, cryptogen: Path) -> None:
    """Create every organization's MSP and TLS material, and the TLS key pairs of CA and chaincode servers."""
    state.config.mkdir(parents=True, exist_ok=True)
    config = state.config / "crypto-config.yaml"
    config.write_text(yaml.safe_dump(crypto_config(topology), sort_keys=False))
    result = subprocess.run(
        [str(cryptogen), "generate", f"--config={config}", f"--output={state.crypto}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise NetworkError(f"cryptogen failed: {result.stderr.strip()}")
    for org in topology.all_orgs:
        for node in (org.ca, org.chaincode):
            if node is not None:
                issue_tls(state, node)


def issue_tls(state: State, node: Node) -> None:
    """A server (and client) TLS key pair for node, signed by its organization's TLS CA."""
    tlsca_dir = state.tls_ca_cert(node.org).parent
    ca_cert = x509.load_pem_x509_certificate(state.tls_ca_cert(node.org).read_bytes())
    ca_key = serialization.load_pem_private_key((tlsca_dir / "priv_sk").read_bytes(), password=None)

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    names = []
    for name in sans(node):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node.name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(ca_cert.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = state.service_tls(node)
    out.mkdir(parents=True, exist_ok=True)
    key_file = out / "server.key"
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (out / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / "ca.crt").write_bytes(state.tls_ca_cert(node.org).read_bytes())
