"""Custodial users' private keys, encrypted at rest with AES-256-GCM under the gateway's key-encryption key.

    box = KeyBox(kek)
    sealed = box.seal("alice", key)          # what the store keeps
    key = box.open("alice", sealed)           # only in memory, only for signing
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
FORMAT = b"tdses-key-v1"


def derived_key(key_encryption_key: bytes, purpose: bytes) -> bytes:
    """A key of its own for another use of the key-encryption key (HMAC-SHA256 of the purpose)."""
    return hmac.new(key_encryption_key, purpose, hashlib.sha256).digest()


class KeyBoxError(Exception):
    """A sealed key could not be opened: wrong key-encryption key, tampered data or a key of another user."""


class KeyBox:
    def __init__(self, key_encryption_key: bytes) -> None:
        if len(key_encryption_key) != 32:
            raise ValueError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(key_encryption_key)

    def seal(self, owner: str, key: ec.EllipticCurvePrivateKey) -> bytes:
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, der, _aad(owner))

    def open(self, owner: str, sealed: bytes) -> ec.EllipticCurvePrivateKey:
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            der = self._aead.decrypt(nonce, ciphertext, _aad(owner))
        except InvalidTag:
            raise KeyBoxError(f"the key of {owner!r} cannot be decrypted") from None
        key = serialization.load_der_private_key(der, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyBoxError(f"the key of {owner!r} is not an ECDSA key")
        return key

    def __repr__(self) -> str:  # never print key material
        return "KeyBox(AES-256-GCM)"


def _aad(owner: str) -> bytes:
    # Binding the ciphertext to its owner stops a row's key from being swapped into another user's row.
    return FORMAT + b"\0" + owner.encode()
