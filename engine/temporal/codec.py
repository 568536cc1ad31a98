"""Encrypting everything a Temporal run sends through the server: the run's inputs (secret ones included), each
step's arguments and results, queries, approvals and failure messages are AES-256-GCM ciphertext in the
server's history. The key is a file the client and every worker share (`--temporal-key-file` or
PLAYBOOK_TEMPORAL_KEY_FILE): the server, its database and its Web UI never see a secret in clear.

A payload that is not ours (the encoding says so) passes through decode unchanged, so a worker with the key
still serves runs submitted without one.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from ..errors import PlaybookError, UsageError

ENCODING = b"binary/playbook-aes256gcm"
KEY_ID = "playbook-key-id"
NONCE_BYTES = 12
MIN_KEY_BYTES = 16  # a key file shorter than this is a typo, not a key


def read_key(path: str) -> bytes:
    """The 32-byte key derived from the key file's content (any bytes, e.g. `head -c 32 /dev/urandom`)."""
    try:
        raw = Path(path).read_bytes().strip()
    except OSError as err:
        raise UsageError(f"cannot read the Temporal key file {path}: {err.strerror}") from None
    if len(raw) < MIN_KEY_BYTES:
        raise UsageError(f"the Temporal key file {path} holds {len(raw)} bytes; it needs at least {MIN_KEY_BYTES}",
                         hint="make one: head -c 32 /dev/urandom | base64 > playbook-temporal.key")
    # Derived, so that a base64 or hex text key and raw bytes are equally good.
    return hashlib.sha256(b"playbook temporal payloads\0" + raw).digest()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole payload (its metadata included); the key's id tells a wrong key apart."""

    def __init__(self, key: bytes) -> None:
        self._aes = AESGCM(key)
        self.key_id = hashlib.sha256(b"key id\0" + key).hexdigest()[:16].encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = self._aes.encrypt(nonce, payload.SerializeToString(), None)
            out.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self.key_id}, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            if payload.metadata.get(KEY_ID) != self.key_id:
                raise PlaybookError("this run was encrypted with another Temporal key file than the one given")
            data = payload.data
            out.append(Payload.FromString(self._aes.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None)))
        return out
