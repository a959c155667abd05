"""Access tokens verify with a standard JWT library, and nothing forged gets past /v1/me.

The attack tests share one read-only victim per module (a verified user with a live session): they
only present tokens to /v1/me and change nothing, so their order does not matter.
"""
import importlib.util
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import ROOT
from e2e_support import (assert_json, assert_problem, decode_unverified, sign_eddsa, sign_hs256,
                         unsigned)

# Committed with the tests: nothing outside the repository is read at run time.
VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "jwt_attack_tokens.py"


def _load_vector_cases() -> list[dict]:
    if not VECTORS_PATH.exists():
        return []
    spec = importlib.util.spec_from_file_location("jwt_attack_tokens", VECTORS_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _key, _jwks, cases = module.make_cases()
    return [c for c in cases if c["expect"] == "reject"]


VECTOR_CASES = _load_vector_cases()


@dataclass
class Victim:
    user_id: str
    session_id: str
    access_token: str
    refresh_token: str
    header: dict
    claims: dict


@pytest.fixture(scope="module")
def victim(app) -> Victim:
    _email, _password, login = app.create_verified_user()
    header, claims = decode_unverified(login["access_token"])
    return Victim(login["user"]["id"], login["session_id"], login["access_token"],
                  login["refresh_token"], header, claims)


def test_the_access_token_verifies_with_pyjwt_against_the_served_jwks(app):
    _email, _password, login = app.create_verified_user()
    token = login["access_token"]
    jwks = assert_json(app.jwks(), 200)

    header = jwt.get_unverified_header(token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(token, key=jwt.PyJWK(key).key, algorithms=["EdDSA"], audience=app.audience,
                        issuer=app.issuer, leeway=5,
                        options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"]})

    assert header["typ"] == "at+jwt"
    assert header["alg"] == "EdDSA"
    assert header["kid"] == app.kid
    assert claims["sub"] == login["user"]["id"]
    assert claims["sid"] == login["session_id"]
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] == login["expires_in"] == app.access_ttl
    assert abs(claims["iat"] - time.time()) < 120


def test_every_access_token_has_its_own_jti(app):
    _email, _password, login = app.create_verified_user()

    rotated = assert_json(app.refresh(login["refresh_token"]), 200)

    first = decode_unverified(login["access_token"])[1]
    second = decode_unverified(rotated["access_token"])[1]
    assert first["jti"] != second["jti"]
    assert first["sid"] == second["sid"]


def test_a_token_re_signed_with_the_real_key_and_unchanged_claims_is_accepted(app, victim):
    # The baseline that makes the forged-token tests below meaningful: our forging is sound.
    token = sign_eddsa(app.signing_key, victim.header, victim.claims)

    resp = app.me(token)

    assert assert_json(resp, 200)["id"] == victim.user_id


def _now() -> int:
    return int(time.time())


FORGERIES = {
    "alg none with an empty signature":
        lambda app, v: unsigned({**v.header, "alg": "none"}, v.claims),
    "alg none keeping the real signature":
        lambda app, v: unsigned({**v.header, "alg": "none"}, v.claims) + v.access_token.split(".")[2],
    "HS256 keyed with the raw public key":
        lambda app, v: sign_hs256(app.public_key_raw, {**v.header, "alg": "HS256"}, v.claims),
    "HS256 keyed with the PEM public key":
        lambda app, v: sign_hs256(app.public_key_pem, {**v.header, "alg": "HS256"}, v.claims),
    "HS256 keyed with the JWK x value":
        lambda app, v: sign_hs256(app.jwk_x.encode(), {**v.header, "alg": "HS256"}, v.claims),
    "an attacker key with the real kid":
        lambda app, v: sign_eddsa(Ed25519PrivateKey.generate(), v.header, v.claims),
    "the real key but expired five minutes ago":
        lambda app, v: sign_eddsa(app.signing_key, v.header,
                                  {**v.claims, "iat": _now() - 300 - app.access_ttl, "exp": _now() - 300}),
    "the real key but another audience":
        lambda app, v: sign_eddsa(app.signing_key, v.header, {**v.claims, "aud": "someone-else-api"}),
    "the real key but another issuer":
        lambda app, v: sign_eddsa(app.signing_key, v.header, {**v.claims, "iss": "http://evil.localhost"}),
    "the real key but typ JWT":
        lambda app, v: sign_eddsa(app.signing_key, {**v.header, "typ": "JWT"}, v.claims),
    "the real key but no typ":
        lambda app, v: sign_eddsa(app.signing_key, {k: x for k, x in v.header.items() if k != "typ"}, v.claims),
    "the real key but an unknown kid":
        lambda app, v: sign_eddsa(app.signing_key, {**v.header, "kid": f"unknown-{uuid.uuid4().hex[:8]}"}, v.claims),
    "a changed subject under the original signature":
        lambda app, v: unsigned(v.header, {**v.claims, "sub": str(uuid.uuid4())}) + v.access_token.split(".")[2],
    "a refresh token presented as an access token":
        lambda app, v: v.refresh_token,
    "a garbage string":
        lambda app, v: "garbage",
    "three garbage segments":
        lambda app, v: "not.a.jwt",
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_or_invalid_access_token_is_refused_as_invalid_token(app, victim, forgery):
    token = FORGERIES[forgery](app, victim)

    resp = app.me(token)

    assert_problem(resp, 401, "invalid_token")


@pytest.mark.parametrize("authorization", [None, "Bearer ", "Bearer", "Basic dXNlcjpwYXNzd29yZA=="],
                         ids=["missing header", "Bearer with an empty token", "Bearer alone", "Basic scheme"])
def test_a_request_without_a_bearer_token_is_refused_as_invalid_token(app, authorization):
    resp = app.me(None, headers={"Authorization": authorization})

    assert_problem(resp, 401, "invalid_token")


def test_the_attack_vectors_are_loaded_from_inside_the_repository():
    assert VECTORS_PATH.is_relative_to(ROOT), VECTORS_PATH
    assert VECTOR_CASES, f"no 'reject' vectors loaded from {VECTORS_PATH}"


@pytest.mark.parametrize("case", VECTOR_CASES, ids=[c["name"] for c in VECTOR_CASES])
def test_a_shared_attack_vector_is_refused_without_a_server_error(app, case):
    resp = app.me(case["token"])

    assert resp.status_code != 500, resp.text[:300]
    assert_problem(resp, 401, "invalid_token")
