"""Who a request acts as on chain: a gateway user with its own Fabric identity, or the organization's admin.

    principal.signer is None  ->  a non-custodial user: every transaction needs the client's own signatures
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fabric_gateway import EcdsaSigner, Identity, Signer, load_signer


@dataclass(frozen=True)
class Principal:
    name: str
    identity: Identity
    signer: Signer | None
    is_admin: bool = False

    @property
    def custodial(self) -> bool:
        return self.signer is not None


ADMIN_NAME = "admin"


def load_admin(msp_id: str, msp_dir: Path) -> Principal:
    """The org admin's identity from an MSP directory (signcerts/*.pem, keystore/*)."""
    certs = sorted((msp_dir / "signcerts").glob("*.pem"))
    keys = sorted(p for p in (msp_dir / "keystore").iterdir() if p.is_file())
    if not certs or not keys:
        raise FileNotFoundError(f"{msp_dir} holds no signcerts/*.pem or keystore key")
    signer: EcdsaSigner = load_signer(keys[0])
    return Principal(ADMIN_NAME, Identity(msp_id, certs[0].read_bytes()), signer, is_admin=True)
