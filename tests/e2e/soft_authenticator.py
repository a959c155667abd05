"""A software WebAuthn authenticator for the passkey tests: it makes discoverable ES256 or
Ed25519 credentials and answers `create()`/`get()` options with WebAuthn Level 3 `toJSON()`
shapes, as a browser would hand them to the app. CBOR and COSE keys come from `fido2` (pinned
in tests/requirements.txt), keys and signatures from `cryptography`.

It plays the browser too (it writes `clientDataJSON`), so a test can make it misbehave in the
ways a real client or a cloned authenticator could: another origin or RP ID, a missing UV flag,
a counter that goes backwards.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fido2 import cbor
from fido2.cose import ES256, EdDSA

from e2e_support import b64url, b64url_decode

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


@dataclass
class Credential:
    credential_id: bytes
    rp_id: str
    user_handle: bytes
    key: object
    alg: int
    sign_count: int = 0

    def cose(self) -> bytes:
        cls = ES256 if self.alg == -7 else EdDSA
        return cbor.encode(dict(cls.from_cryptography_key(self.key.public_key())))

    def sign(self, data: bytes) -> bytes:
        if self.alg == -7:
            return self.key.sign(data, ec.ECDSA(hashes.SHA256()))  # DER, as authenticators do
        return self.key.sign(data)


@dataclass
class SoftAuthenticator:
    origin: str
    alg: int = -7
    # A synced passkey keeps no counter (stays 0); a device-bound one counts up.
    counting: bool = True
    backup_eligible: bool = False
    credentials: list[Credential] = field(default_factory=list)

    def _client_data(self, kind: str, challenge: str, origin: str | None, cross_origin: bool) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": cross_origin}, separators=(",", ":")).encode()

    @staticmethod
    def _auth_data(rp_id: str, flags: int, count: int, attested: bytes = b"") -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", count) + attested

    def create(self, options: dict, *, origin: str | None = None, rp_id: str | None = None,
               flags: int | None = None, fmt: str = "none", cross_origin: bool = False) -> dict:
        """`navigator.credentials.create()` of creation options (`publicKey`), as JSON."""
        key = ec.generate_private_key(ec.SECP256R1()) if self.alg == -7 else Ed25519PrivateKey.generate()
        assert self.alg in [p["alg"] for p in options["pubKeyCredParams"]]
        cred = Credential(os.urandom(32), options["rp"]["id"], b64url_decode(options["user"]["id"]), key,
                          self.alg)
        excluded = {b64url_decode(c["id"]) for c in options["excludeCredentials"]}
        assert not excluded & {c.credential_id for c in self.credentials}, "excluded credential"
        if flags is None:
            flags = UP | UV | AT | (BE if self.backup_eligible else 0)
        attested = bytes(16) + struct.pack(">H", len(cred.credential_id)) + cred.credential_id + cred.cose()
        auth_data = self._auth_data(rp_id or cred.rp_id, flags, 0, attested)
        client_data = self._client_data("webauthn.create", options["challenge"], origin, cross_origin)
        attestation = cbor.encode({"fmt": fmt, "attStmt": {}, "authData": auth_data})
        self.credentials.append(cred)
        return {"id": b64url(cred.credential_id), "rawId": b64url(cred.credential_id), "type": "public-key",
                "authenticatorAttachment": "platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                             "transports": ["internal"]}}

    def get(self, options: dict, *, credential: Credential | None = None, origin: str | None = None,
            rp_id: str | None = None, flags: int | None = None, count: int | None = None,
            cross_origin: bool = False, challenge: str | None = None) -> dict:
        """`navigator.credentials.get()` of request options (`publicKey`), as JSON. Usernameless:
        the newest credential of the RP answers unless another is named."""
        cred = credential or [c for c in self.credentials if c.rp_id == options["rpId"]][-1]
        if count is None:
            if self.counting:
                cred.sign_count += 1
            count = cred.sign_count
        if flags is None:
            flags = UP | UV | (BE | BS if self.backup_eligible else 0)
        auth_data = self._auth_data(rp_id or cred.rp_id, flags, count)
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin, cross_origin)
        signature = cred.sign(auth_data + hashlib.sha256(client_data).digest())
        return {"id": b64url(cred.credential_id), "rawId": b64url(cred.credential_id), "type": "public-key",
                "authenticatorAttachment": "platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature), "userHandle": b64url(cred.user_handle)}}
