"""Signing-key rotation by the cron, on a server of its own (KEY_ROTATION_INTERVAL_SECONDS=1,
ACCESS_TOKEN_TTL_SECONDS=6). A rotated key is published in the JWKS one cron run before it signs;
the key it replaces keeps verifying for one access-token lifetime after it stopped signing, then
leaves the JWKS. The short lifetime keeps the retirement's wait at 7 s, so every test runs in CI.
"""
import secrets
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from conftest import GENEROUS_RATE_LIMITS, AppStartError, spawn_app
from e2e_support import (assert_json, assert_problem, b64url, b64url_decode, decode_unverified,
                         sign_eddsa)

ACCESS_TTL_S = 6
INTERVAL_S = 1
# Past the interval even if the server keeps whole-second timestamps and compares strictly.
PAST_INTERVAL_S = INTERVAL_S + 1.1


@pytest.fixture(scope="module")
def rotation_app():
    try:
        app = spawn_app(**GENEROUS_RATE_LIMITS, KEY_ROTATION_INTERVAL_SECONDS=INTERVAL_S,
                        ACCESS_TOKEN_TTL_SECONDS=ACCESS_TTL_S,
                        KEY_ENCRYPTION_KEY=b64url(secrets.token_bytes(32)))
    except AppStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield app
    app.stop()


def jwks(app) -> dict[str, dict]:
    """The published keys by kid, checked for shape and for the absence of private parts."""
    keys = assert_json(app.jwks(), 200)["keys"]
    for key in keys:
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig"), key
        assert "d" not in key, f"private key published: {key}"
    by_kid = {k["kid"]: k for k in keys}
    assert len(by_kid) == len(keys), f"duplicate kids: {keys}"
    return by_kid


def kid_of(token: str) -> str:
    return decode_unverified(token)[0]["kid"]


def assert_signed_by(token: str, jwk: dict) -> None:
    signing_input, _, signature = token.rpartition(".")
    Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"])).verify(
        b64url_decode(signature), signing_input.encode())


def fresh_copy(app, token: str) -> str:
    """`token`'s claims, issued now, signed with the configured key: valid unless that key is gone."""
    header, claims = decode_unverified(token)
    now = int(time.time())
    claims = {**claims, "iat": now, "exp": now + app.access_ttl, "jti": str(uuid.uuid4())}
    return sign_eddsa(app.signing_key, {**header, "kid": app.kid}, claims)


def login(app, email: str, password: str) -> str:
    return assert_json(app.login(email, password), 200)["access_token"]


def rotate(app) -> str:
    """Run the cron until a new login is signed by a rotated key; that key's kid. Works from any
    starting point (fresh server, or one rotated before), so tests do not depend on their order."""
    email, password, first = app.create_verified_user(name="Rotator")
    before = kid_of(first["access_token"])
    for _ in range(3):
        time.sleep(PAST_INTERVAL_S)
        app.run_cron()
        kid = kid_of(login(app, email, password))
        if kid != before:
            return kid
    raise AssertionError(f"still signing with {before} after three cron runs; JWKS {sorted(jwks(app))}")


def test_a_rotated_key_is_published_one_run_before_it_signs_and_old_tokens_keep_working(rotation_app):
    app = rotation_app
    email, password, first = app.create_verified_user(name="Rotated")
    token_a = first["access_token"]
    assert kid_of(token_a) == app.kid, "the configured key does not sign before any rotation"
    assert set(jwks(app)) == {app.kid}

    app.run_cron()

    published = jwks(app)
    assert len(published) == 2 and app.kid in published, sorted(published)
    (rotated_kid,) = set(published) - {app.kid}
    token_b = login(app, email, password)
    assert kid_of(token_b) == app.kid, "the new key signs in the very run that published it"

    time.sleep(PAST_INTERVAL_S)
    app.run_cron()

    token_c = login(app, email, password)
    assert kid_of(token_c) == rotated_kid, (kid_of(token_c), rotated_kid)
    published = jwks(app)
    assert rotated_kid in published and app.kid in published, sorted(published)
    assert_signed_by(token_c, published[rotated_kid])
    assert_signed_by(token_a, published[app.kid])
    # tokens of the configured key keep verifying, fresh ones included, and so do the new key's
    for token in (token_a, token_b, fresh_copy(app, token_a), token_c):
        me = assert_json(app.me(token), 200)
        assert me["email"] == email, me
    # a refresh gets a token of the new key too
    refreshed = assert_json(app.refresh(first["refresh_token"]), 200)
    assert kid_of(refreshed["access_token"]) == rotated_kid


def test_a_key_that_stopped_signing_leaves_the_jwks_one_token_lifetime_later(rotation_app):
    app = rotation_app
    email, password, login_a = app.create_verified_user(name="Retiring")
    token_a = login_a["access_token"]
    if kid_of(token_a) == app.kid:
        rotate(app)
    assert app.kid in jwks(app)
    still_good = fresh_copy(app, token_a)
    assert_json(app.me(still_good), 200)

    time.sleep(ACCESS_TTL_S + 1)  # a time window: one access-token lifetime
    signer_before = kid_of(login(app, email, password))  # signing right before the run
    token_d = login(app, email, password)
    app.run_cron()

    published = jwks(app)
    assert app.kid not in published, f"the configured key was not retired: {sorted(published)}"
    assert signer_before in published, "the key that signed until this run left at once"
    assert_problem(app.me(fresh_copy(app, token_a)), 401, "invalid_token")
    if kid_of(token_a) == app.kid:
        assert_problem(app.me(token_a), 401, "invalid_token")
    assert_json(app.me(token_d), 200)
    assert kid_of(login(app, email, password)) in published
