"""The client's X.509 identity: an MSP ID and a PEM certificate.

    identity = load_identity("Org1MSP", "users/User1@org1/msp/signcerts/cert.pem")
    identity.creator()  # serialized msp.SerializedIdentity bytes
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

from cryptography import x509
from fabric_protos.msp import identities_pb2


@dataclass(frozen=True)
class Identity:
    """Who signs: the MSP ID of the organization and the PEM-encoded X.509 certificate.

        identity = Identity("Org1MSP", cert_pem)
        identity.certificate_object().subject
    """

    msp_id: str
    certificate: bytes

    def __post_init__(self) -> None:
        if not self.msp_id:
            raise ValueError("msp_id must not be empty")
        if isinstance(self.certificate, str):
            object.__setattr__(self, "certificate", self.certificate.encode())
        # Fail early on a malformed certificate rather than at the peer.
        x509.load_pem_x509_certificate(self.certificate)
        creator = identities_pb2.SerializedIdentity(mspid=self.msp_id, id_bytes=self.certificate)
        object.__setattr__(self, "_creator", creator.SerializeToString())  # in every proposal: serialized once

    def creator(self) -> bytes:
        """The serialized msp.SerializedIdentity that Fabric puts in every signature header."""
        return self._creator

    def certificate_object(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate)


def load_identity(msp_id: str, certificate_path: str | PathLike[str]) -> Identity:
    """Read a PEM certificate file into an Identity.

        identity = load_identity("Org1MSP", "msp/signcerts/cert.pem")
    """
    with open(certificate_path, "rb") as f:
        return Identity(msp_id, f.read())
