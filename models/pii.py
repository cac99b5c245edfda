"""Encryption of personal data at rest (AES-GCM) and the keyed blind index used to find it.

One 32-byte master key (from settings) is stretched with HKDF into an encryption key and an
index key, so a leaked index never helps decrypt and the master key is never used directly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Ciphertext layout: version byte, 12-byte nonce, AES-GCM ciphertext+tag; base64 in the column.
_FORMAT_VERSION = b"\x01"
_NONCE_BYTES = 12


class PiiKeyError(ValueError):
    """The configured key is missing or malformed."""


class PiiDecryptError(ValueError):
    """A stored value could not be decrypted with the configured key."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


def generate_key() -> str:
    """A fresh random master key, base64 encoded as settings expect it."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def decode_key(text: str) -> bytes:
    """The 32 raw bytes of a base64 master key, or `PiiKeyError` saying what is wrong."""
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise PiiKeyError("must be 32 bytes, base64 encoded (see `settle keygen`)") from exc
    if len(raw) != 32:
        raise PiiKeyError(f"must be 32 bytes, base64 encoded; it decodes to {len(raw)} bytes")
    return raw


@dataclass(frozen=True)
class PiiCipher:
    """Encrypts and decrypts personal data and computes its blind index."""

    master_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.master_key) != 32:
            raise PiiKeyError("the PII master key must be 32 bytes")

    @classmethod
    def from_text(cls, text: str) -> PiiCipher:
        """A cipher from a base64 master key."""
        return cls(decode_key(text))

    # Derived once per cipher: HKDF per value would dominate bulk encryption.
    @cached_property
    def _aead(self) -> AESGCM:
        return AESGCM(_derive(self.master_key, b"settle/pii/aes-gcm/v1"))

    @cached_property
    def _index_key(self) -> bytes:
        return _derive(self.master_key, b"settle/pii/blind-index/v1")

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Ciphertext of `plaintext`, fresh nonce each time, as ASCII text.

        `context` (the column, e.g. "borrowers.national_id") is authenticated with the value, so
        a ciphertext copied into another column no longer decrypts.
        """
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return base64.b64encode(_FORMAT_VERSION + nonce + sealed).decode("ascii")

    def decrypt(self, token: str, *, context: str = "") -> str:
        """Plaintext of a value produced by `encrypt` with the same `context`."""
        try:
            blob = base64.b64decode(token.encode("ascii"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PiiDecryptError("stored PII is not valid ciphertext") from exc
        if blob[:1] != _FORMAT_VERSION:
            raise PiiDecryptError("stored PII has an unknown format version")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, context.encode("utf-8")).decode("utf-8")
        except InvalidTag as exc:
            raise PiiDecryptError("stored PII does not decrypt with the configured key") from exc

    def blind_index(self, normalized: str) -> str:
        """Keyed HMAC of a normalized value: equal inputs match, the value cannot be recovered."""
        return hmac.new(self._index_key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()
