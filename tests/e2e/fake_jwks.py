"""A local JWKS URL for token-exchange tests: an external issuer's key set (RS256 and ES256
keys made with `cryptography`), served at `GET /jwks.json`, with the fetches counted. `rotate()`
publishes a new RSA key (the old ones stay), as a provider rotating its keys would."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from local_http import LocalHttpServer


class FakeJwks(LocalHttpServer):
    thread_name = "fake-jwks"

    def __init__(self, issuer: str, audience: str) -> None:
        super().__init__()
        self.issuer = issuer
        self.audience = audience
        self._lock = threading.Lock()
        self.keys: dict[str, tuple[str, object]] = {}  # kid -> (alg, private key)
        self.fetches = 0
        self.add_key("RS256")
        self.add_key("ES256")

    def add_key(self, alg: str) -> str:
        kid = f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256"
               else ec.generate_private_key(ec.SECP256R1()))
        with self._lock:
            self.keys[kid] = (alg, key)
        return kid

    def kid(self, alg: str) -> str:
        return next(k for k, (a, _) in self.keys.items() if a == alg)

    def token(self, subject: str, alg: str = "RS256", kid: str | None = None, key=None, **claims) -> str:
        """A JWT of this issuer; `claims` override the defaults (None removes one)."""
        kid = kid or self.kid(alg)
        now = int(time.time())
        body = {"iss": self.issuer, "aud": self.audience, "sub": subject, "iat": now, "exp": now + 300, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.keys[kid][1], algorithm=alg, headers={"kid": kid})

    def _make_handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def do_GET(self) -> None:
                with fake._lock:
                    fake.fetches += 1
                    keys = []
                    for kid, (alg, key) in fake.keys.items():
                        algo = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
                        jwk = json.loads(algo.to_jwk(key.public_key()))
                        keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
                data = json.dumps({"keys": keys}).encode()
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
