"""Who a request acts as on chain: a gateway user with its own Fabric identity, or the organization's admin.

    principal.signer is None  ->  a non-custodial user: every transaction needs the client's own signatures
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fabric_gateway import EcdsaSigner, Identity, Signer, load_signer

from tdses.rest.services.keystore import KeyBox
from tdses.rest.store import ACTIVE, UserRecord

PRINCIPALS_KEPT = 10_000


@dataclass(frozen=True)
class Principal:
    name: str
    identity: Identity
    signer: Signer | None
    is_admin: bool = False
    registered: bool = True  # False while the user's registration on chain has not committed

    @property
    def custodial(self) -> bool:
        return self.signer is not None

    def is_user(self, name: str) -> bool:
        """Whether this is the user `name` of the ledger. Not before its registration committed: until then
        another organization may register that name, and the ledger's user of that name is someone else."""
        return self.registered and not self.is_admin and self.name == name

    def is_creating(self, name: str) -> bool:
        """Whether this is the user `name` whose creation has not finished: it may resume it."""
        return not self.registered and not self.is_admin and self.name == name


ADMIN_NAME = "admin"


def load_admin(msp_id: str, msp_dir: Path) -> Principal:
    """The org admin's identity from an MSP directory (signcerts/*.pem, keystore/*)."""
    certs = sorted((msp_dir / "signcerts").glob("*.pem"))
    keys = sorted(p for p in (msp_dir / "keystore").iterdir() if p.is_file())
    if not certs or not keys:
        raise FileNotFoundError(f"{msp_dir} holds no signcerts/*.pem or keystore key")
    signer: EcdsaSigner = load_signer(keys[0])
    return Principal(ADMIN_NAME, Identity(msp_id, certs[0].read_bytes()), signer, is_admin=True)


class Principals:
    """Gateway users as they act on chain, built once per user record: opening the sealed key and reading the
    certificate cost more than the rest of a query. A changed record (a new key, a removal) is a new entry; the
    opened keys live only in this process's memory, as they did for one request before."""

    def __init__(self, msp_id: str, keybox: KeyBox) -> None:
        self._msp_id = msp_id
        self._keybox = keybox
        self._kept: dict[tuple, Principal] = {}

    def of(self, user: UserRecord) -> Principal:
        key = (user.name, user.certificate, user.sealed_key, user.custodial, user.state)
        principal = self._kept.get(key)
        if principal is None:
            signer = None
            if user.custodial and user.sealed_key is not None:
                signer = EcdsaSigner(self._keybox.open(user.name, user.sealed_key))
            principal = Principal(user.name, Identity(self._msp_id, user.certificate), signer,
                                  registered=user.state == ACTIVE)
            if len(self._kept) >= PRINCIPALS_KEPT:
                self._kept.clear()
            self._kept[key] = principal
        return principal
