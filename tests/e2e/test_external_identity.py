"""Sign-in with external providers, end to end. OpenID Connect against a real provider: panva's
`oidc-provider` on a loopback port (tests/e2e/oidc_provider.mjs). Bearer mode (one-time code,
with and without the app's own PKCE) and cookie mode; replayed and foreign states; tampered,
expired and wrongly bound ID tokens; the linking rules; unlinking the last identity. GitHub
against a local STAND-IN of its documented OAuth and REST endpoints (tests/e2e/fake_github.py).
Token exchange with JWTs signed by a test key set served from a local JWKS URL
(tests/e2e/fake_jwks.py)."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fake_github import FakeGithub
from fake_jwks import FakeJwks
from e2e_support import assert_json, assert_problem, assert_status, b64url, b64url_decode, new_password, unique_email
from oidc_support import (APP_CALLBACK, OidcProvider, Walk, free_port, provider_config,
                          query_of, set_cookies)

ACCESS = "__Host-ew_access"
REFRESH = "__Secure-ew_refresh"


@pytest.fixture(scope="module")
def op():
    provider = OidcProvider(free_port())
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def github():
    fake = FakeGithub("gh-client", "gh-secret")
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def wallet():
    fake = FakeJwks(issuer="https://wallet.example.test", audience="edgeward-app")
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def app(app_factory, op, github, wallet):
    # The provider needs Edgeward's callback URLs, Edgeward the provider's issuer: the port is
    # chosen first, the provider started once Edgeward listens (discovery happens on first use).
    config = provider_config(op)
    providers = json.loads(config["AUTH_PROVIDERS"])
    providers["gh"] = {"type": "github", "issuer": github.url, "api_url": github.url,
                       "client_id": "gh-client", "redirect_uris": [APP_CALLBACK]}
    providers["wallet"] = {"type": "jwt", "issuer": wallet.issuer, "jwks_uri": f"{wallet.url}/jwks.json",
                           "audience": wallet.audience}
    config["AUTH_PROVIDERS"] = json.dumps(providers)
    server = app_factory(**config, AUTH_PROVIDER_GH_SECRET="gh-secret")
    op.start([f"{server.base_url}/v1/auth/oauth/{p}/callback" for p in ("corp", "corp-es")])
    return server


def person(op, verified: bool = True, email: str | None = None) -> tuple[str, str]:
    sub, email = f"sub-{uuid.uuid4().hex[:12]}", email or unique_email("oidc")
    op.next_login(sub, email, email_verified=verified, name="Ext User")
    return sub, email


def redeem(app, code: str, verifier: str | None = None):
    body = {"code": code}
    if verifier is not None:
        body["code_verifier"] = verifier
    return app.post("/v1/auth/oauth/token", body)


def signed_in(app, op, provider_id: str = "corp", **start) -> tuple[str, dict]:
    """A new external user signs in in bearer mode: (sub, TokenResponse)."""
    sub, _email = person(op)
    final = Walk(app, provider_id).run(**start)
    assert final.status_code == 302, final.text
    code = query_of(final.headers["Location"])["code"]
    return sub, assert_json(redeem(app, code), 200)


def test_the_configured_providers_are_listed(app):
    body = assert_json(app.get("/v1/auth/providers"), 200)
    assert body == {"providers": [{"id": "corp", "type": "oidc", "name": "Corp SSO"},
                                  {"id": "corp-es", "type": "oidc", "name": "corp-es"},
                                  {"id": "gh", "type": "github", "name": "GitHub"},
                                  {"id": "wallet", "type": "jwt", "name": "wallet"}]}


def test_start_redirects_to_the_provider_with_pkce_state_and_nonce(app, op):
    walk = Walk(app)
    resp = walk.start()
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(f"{op.issuer}/auth?")
    q = query_of(location)
    assert q["response_type"] == "code" and q["client_id"] == "edgeward"
    assert q["redirect_uri"] == f"{app.base_url}/v1/auth/oauth/corp/callback"
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 43 and len(q["nonce"]) >= 43
    assert set(q["scope"].split()) == {"openid", "email", "profile"}
    # the state is bound to this browser by an HttpOnly cookie limited to the OAuth paths
    cookie = next(line for line in resp.raw.headers.getlist("Set-Cookie") if line.startswith("ew_oauth="))
    assert "HttpOnly" in cookie and "Path=/v1/auth/oauth" in cookie and "SameSite=Lax" in cookie


def test_unknown_providers_and_unlisted_redirect_uris_are_refused(app):
    assert_problem(app.get(f"/v1/auth/oauth/nope/start?redirect_uri={APP_CALLBACK}"), 404, "not_found")
    for bad in ("http://127.0.0.1:9/app/callback/", "http://127.0.0.1:9/app/callbackx",
                "http://evil.example/app/callback", ""):
        resp = Walk(app).start(redirect_uri=bad)
        assert_problem(resp, 400, "invalid_redirect_uri")
    assert_problem(Walk(app).start(code_challenge="x" * 43, code_challenge_method="plain"), 400,
                   "invalid_request")


def test_a_new_user_signs_up_in_bearer_mode_and_the_code_is_single_use(app, op):
    sub, email = person(op)
    final = Walk(app).run()
    assert final.status_code == 302
    location = final.headers["Location"]
    assert location.startswith(APP_CALLBACK + "?code=")
    code = query_of(location)["code"]
    tokens = assert_json(redeem(app, code), 200)
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    me = assert_json(app.me(tokens["access_token"]), 200)
    assert me["email"] == email and me["email_verified"] is True and me["status"] == "active"
    identities = assert_json(app.get("/v1/me/identities", access=tokens["access_token"]), 200)["identities"]
    assert [(i["provider"], i["subject"], i["email"]) for i in identities] == [("corp", sub, email)]
    # the one-time code is spent
    assert_problem(redeem(app, code), 400, "invalid_grant")
    assert_problem(redeem(app, "made-up"), 400, "invalid_grant")
    # the same identity signs in to the same account next time
    op.next_login(sub, email)
    again = Walk(app).run()
    tokens2 = assert_json(redeem(app, query_of(again.headers["Location"])["code"]), 200)
    assert tokens2["user"]["id"] == tokens["user"]["id"]


def test_an_es256_provider_signs_in_too(app, op):
    _sub, tokens = signed_in(app, op, "corp-es")
    assert assert_json(app.me(tokens["access_token"]), 200)["email_verified"] is True


def test_an_app_that_started_with_pkce_must_redeem_with_its_verifier(app, op):
    verifier = b64url(uuid.uuid4().bytes + uuid.uuid4().bytes)
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    person(op)
    walk = Walk(app)
    start = walk.start(code_challenge=challenge, code_challenge_method="S256")
    # bound to the app's PKCE, not to a browser cookie
    assert walk.binding is None
    final = walk.callback(walk.authorize(start), binding=None)
    code = query_of(final.headers["Location"])["code"]
    assert_problem(redeem(app, code), 400, "invalid_grant")  # no verifier: refused, and spent
    assert_problem(redeem(app, code, verifier), 400, "invalid_grant")

    person(op)
    walk = Walk(app)
    final = walk.callback(walk.authorize(walk.start(code_challenge=challenge, code_challenge_method="S256")))
    code = query_of(final.headers["Location"])["code"]
    assert_problem(redeem(app, code, verifier[:-1] + ("A" if verifier[-1] != "A" else "B")), 400, "invalid_grant")
    person(op)
    walk = Walk(app)
    final = walk.callback(walk.authorize(walk.start(code_challenge=challenge, code_challenge_method="S256")))
    code = query_of(final.headers["Location"])["code"]
    assert_json(redeem(app, code, verifier), 200)


def test_cookie_mode_ends_with_the_session_in_cookies_and_no_token_in_the_url(app, op):
    _sub, email = person(op)
    final = Walk(app).run(mode="cookie")
    assert final.status_code == 302
    assert final.headers["Location"] == APP_CALLBACK
    jar = set_cookies(final)
    assert {ACCESS, REFRESH} <= set(jar)
    assert jar.get("ew_oauth") == ""  # the binding cookie is cleared
    me = app.get("/v1/me", headers={"Cookie": f"{ACCESS}={jar[ACCESS]}"})
    assert assert_json(me, 200)["email"] == email
    # the app gets its CSRF token from a cookie refresh
    refreshed = app.post("/v1/auth/refresh", {}, headers={"Cookie": f"{REFRESH}={jar[REFRESH]}"})
    assert assert_json(refreshed, 200)["csrf_token"]


def test_a_replayed_or_foreign_state_is_refused(app, op):
    person(op)
    walk = Walk(app)
    url = walk.authorize(walk.start())
    # another browser (no binding cookie, or another one) brings the callback: refused, and the
    # state is spent, so the rightful browser cannot be raced either
    assert_problem(walk.callback(url, binding="someone-elses-cookie"), 400, "invalid_state")
    assert_problem(walk.callback(url), 400, "invalid_state")

    person(op)
    walk = Walk(app)
    url = walk.authorize(walk.start())
    first = walk.callback(url)
    assert first.status_code == 302 and "code=" in first.headers["Location"]
    assert_problem(walk.callback(url), 400, "invalid_state")  # replayed
    assert_problem(app.get("/v1/auth/oauth/corp/callback?code=x&state=made-up"), 400, "invalid_state")
    assert_problem(app.get("/v1/auth/oauth/corp/callback?code=x"), 400, "invalid_state")
    # a state of one provider is not accepted by another's callback
    person(op)
    walk = Walk(app)
    url = walk.authorize(walk.start())
    other = url.replace("/oauth/corp/callback", "/oauth/corp-es/callback")
    assert_problem(walk.callback(other), 400, "invalid_state")


def test_a_provider_error_goes_back_to_the_app(app):
    walk = Walk(app)
    start = walk.start()
    state = query_of(start.headers["Location"])["state"]
    resp = walk.callback(f"{app.base_url}/v1/auth/oauth/corp/callback?state={state}&error=access_denied")
    assert resp.status_code == 302
    assert query_of(resp.headers["Location"]) == {"error": "access_denied"}


@pytest.mark.parametrize("tamper", ["signature", "expired", "nonce"])
def test_a_tampered_expired_or_wrongly_bound_id_token_signs_no_one_in(app, op, tamper):
    sub = f"sub-{uuid.uuid4().hex[:12]}"
    email = unique_email("tampered")
    op.next_login(sub, email, tamper=tamper)
    final = Walk(app).run()
    assert final.status_code == 302
    assert query_of(final.headers["Location"]) == {"error": "invalid_id_token"}
    assert app.d1_rows("SELECT id FROM users WHERE email = ?", (email,)) == []
    assert app.d1_rows("SELECT id FROM external_identities WHERE subject IN (?, 'someone-else')", (sub,)) == []


def test_an_unverified_provider_email_never_joins_an_existing_account(app, op):
    email, password, login = app.verified_user()
    person(op, verified=False, email=email)
    final = Walk(app).run()
    assert query_of(final.headers["Location"]) == {"error": "account_exists"}
    assert app.d1_rows("SELECT id FROM external_identities WHERE user_id = ?", (login["user"]["id"],)) == []
    # nor does a verified provider address join an account that never verified its own
    unverified_email, _pw, _user = app.register_unverified()
    person(op, verified=True, email=unverified_email)
    final = Walk(app).run()
    assert query_of(final.headers["Location"]) == {"error": "account_exists"}
    # an unverified address of nobody opens no account
    _sub, nobody = person(op, verified=False)
    final = Walk(app).run()
    assert query_of(final.headers["Location"]) == {"error": "email_not_verified"}
    assert app.d1_rows("SELECT id FROM users WHERE email = ?", (nobody,)) == []


def test_a_verified_provider_email_joins_the_verified_account_of_that_address(app, op):
    email, password, login = app.verified_user()
    sub, _ = person(op, verified=True, email=email)
    final = Walk(app).run()
    tokens = assert_json(redeem(app, query_of(final.headers["Location"])["code"]), 200)
    assert tokens["user"]["id"] == login["user"]["id"]
    identities = assert_json(app.get("/v1/me/identities", access=tokens["access_token"]), 200)["identities"]
    assert [i["subject"] for i in identities] == [sub]
    # a password holder may unlink its only identity: the password remains
    resp = app.request("DELETE", f"/v1/me/identities/{identities[0]['id']}", access=tokens["access_token"])
    assert resp.status_code == 204
    assert assert_json(app.get("/v1/me/identities", access=tokens["access_token"]), 200)["identities"] == []


def test_a_signed_in_user_links_another_identity_explicitly(app, op):
    email, password, login = app.verified_user()
    # the provider's address is not the account's, and not even verified: an explicit link needs neither
    sub, _ = person(op, verified=False)
    walk = Walk(app)
    start = walk.start(link="true", headers={"Authorization": f"Bearer {login['access_token']}"})
    final = walk.callback(walk.authorize(start))
    assert query_of(final.headers["Location"]) == {"linked": "corp"}
    identities = assert_json(app.get("/v1/me/identities", access=login["access_token"]), 200)["identities"]
    assert [i["subject"] for i in identities] == [sub]
    # that identity now signs in to this account, and cannot be linked to another one
    op.next_login(sub, unique_email("x"), email_verified=False)
    tokens = assert_json(redeem(app, query_of(Walk(app).run().headers["Location"])["code"]), 200)
    assert tokens["user"]["id"] == login["user"]["id"]
    _e2, _p2, other = app.verified_user()
    op.next_login(sub, None)
    walk = Walk(app)
    start = walk.start(link="true", headers={"Authorization": f"Bearer {other['access_token']}"})
    final = walk.callback(walk.authorize(start))
    assert query_of(final.headers["Location"]) == {"error": "identity_taken"}
    assert_problem(Walk(app).start(link="true"), 401, "invalid_token")


def test_the_last_identity_cannot_be_unlinked_until_a_password_is_set_by_reset(app, op):
    _sub, tokens = signed_in(app, op)
    access = tokens["access_token"]
    email = tokens["user"]["email"]
    [identity] = assert_json(app.get("/v1/me/identities", access=access), 200)["identities"]
    resp = app.request("DELETE", f"/v1/me/identities/{identity['id']}", access=access)
    assert_problem(resp, 409, "last_login_method")
    assert_problem(app.request("DELETE", "/v1/me/identities/not-mine", access=access), 404, "not_found")
    # an account without a password cannot log in with one ...
    assert_problem(app.login(email, "anything-at-all-123"), 401, "invalid_credentials")
    # ... until it sets one through the reset flow
    assert app.forgot(email).status_code in (200, 202, 204)
    token = app.token_from_mail(app.wait_for_mail(email, "Reset"))
    password = new_password()
    assert app.reset(token, password).status_code in (200, 204)
    fresh = assert_json(app.login(email, password), 200)
    resp = app.request("DELETE", f"/v1/me/identities/{identity['id']}", access=fresh["access_token"])
    assert resp.status_code == 204


# ---------------------------------------------------------------- GitHub (local stand-in)


def test_github_signs_up_with_the_verified_address_never_the_public_profile_one(app, github):
    gh_id = int(uuid.uuid4().int % 10**9)
    verified = unique_email("gh")
    github.next_user(gh_id, f"octo{gh_id}", name=None, public_email=unique_email("public"),
                     emails=[{"email": unique_email("unverified-primary"), "primary": True, "verified": False},
                             {"email": verified, "primary": False, "verified": True}])
    walk = Walk(app, "gh")
    start = walk.start()
    q = query_of(start.headers["Location"])
    assert start.headers["Location"].startswith(f"{github.url}/login/oauth/authorize?")
    assert q["scope"] == "read:user user:email" and q["code_challenge_method"] == "S256"
    assert "nonce" not in q  # OAuth 2.0 only: no ID token to bind
    final = walk.callback(walk.authorize(start))
    tokens = assert_json(redeem(app, query_of(final.headers["Location"])["code"]), 200)
    assert tokens["user"]["email"] == verified and tokens["user"]["name"] == f"octo{gh_id}"
    [identity] = assert_json(app.get("/v1/me/identities", access=tokens["access_token"]), 200)["identities"]
    assert (identity["provider"], identity["subject"]) == ("gh", str(gh_id))
    # the code was redeemed with the client secret and Edgeward's PKCE verifier
    sent = github.token_requests[-1]
    assert sent["client_secret"] == "gh-secret" and len(sent["code_verifier"]) >= 43


def test_github_without_a_verified_address_opens_no_account(app, github):
    gh_id = int(uuid.uuid4().int % 10**9)
    email = unique_email("gh-unverified")
    github.next_user(gh_id, f"octo{gh_id}", emails=[{"email": email, "primary": True, "verified": False}])
    final = Walk(app, "gh").run()
    assert query_of(final.headers["Location"]) == {"error": "email_not_verified"}
    assert app.d1_rows("SELECT id FROM users WHERE email = ?", (email,)) == []


def test_a_github_code_refused_by_github_is_a_provider_error(app, github):
    github.next_user(1, "octo", emails=[{"email": unique_email("gh"), "primary": True, "verified": True}])
    walk = Walk(app, "gh")
    start = walk.start()
    state = query_of(start.headers["Location"])["state"]
    resp = walk.callback(f"{app.base_url}/v1/auth/oauth/gh/callback?state={state}&code=forged")
    assert query_of(resp.headers["Location"]) == {"error": "provider_error"}


# ---------------------------------------------------------------- token exchange (local JWKS)


def exchange(app, token: str, provider: str = "wallet", **extra):
    return app.post("/v1/auth/exchange", {"provider": provider, "token": token, **extra})


def test_an_external_jwt_becomes_a_session_of_the_user_created_on_first_use(app, wallet):
    sub = f"did:wallet:{uuid.uuid4().hex}"
    first = assert_json(exchange(app, wallet.token(sub), device_name="wallet app"), 200)
    assert first["token_type"] == "Bearer" and first["user"]["status"] == "active"
    # no verified address in the token: a placeholder nobody can register or mail
    assert first["user"]["email"].endswith("@external-identity.invalid")
    again = assert_json(exchange(app, wallet.token(sub, alg="ES256")), 200)
    assert again["user"]["id"] == first["user"]["id"]
    [identity] = assert_json(app.get("/v1/me/identities", access=again["access_token"]), 200)["identities"]
    assert (identity["provider"], identity["subject"]) == ("wallet", sub)
    # a verified address in the token opens the account under it; cookie mode works too
    email = unique_email("wallet")
    resp = exchange(app, wallet.token(f"did:wallet:{uuid.uuid4().hex}", email=email, email_verified=True),
                    mode="cookie")
    assert assert_json(resp, 200)["user"]["email"] == email
    assert {ACCESS, REFRESH} <= set(set_cookies(resp))


@pytest.mark.parametrize("case", ["alg_none", "hs256_with_public_key", "foreign_issuer", "wrong_audience",
                                  "expired", "foreign_key", "tampered", "not_a_jwt_provider", "no_sub"])
def test_a_bad_external_jwt_is_refused(app, wallet, case):
    sub = f"did:wallet:{uuid.uuid4().hex}"
    provider = "wallet"
    if case == "alg_none":
        header = {"alg": "none", "kid": wallet.kid("RS256")}
        claims = {"iss": wallet.issuer, "aud": wallet.audience, "sub": sub, "iat": 1, "exp": 2**31}
        token = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode()) + "."
    elif case == "hs256_with_public_key":
        # the classic confusion: HMAC keyed with the issuer's public key (PyJWT refuses to make
        # this token, so it is made by hand)
        kid = wallet.kid("RS256")
        pem = wallet.keys[kid][1].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        claims = {"iss": wallet.issuer, "aud": wallet.audience, "sub": sub, "iat": 1, "exp": 2**31}
        head = b64url(json.dumps({"alg": "HS256", "kid": kid}).encode())
        body = b64url(json.dumps(claims).encode())
        sig = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
        token = f"{head}.{body}.{b64url(sig)}"
    elif case == "foreign_issuer":
        token = wallet.token(sub, iss="https://evil.example.test")
    elif case == "wrong_audience":
        token = wallet.token(sub, aud="another-app")
    elif case == "expired":
        token = wallet.token(sub, iat=1_600_000_000, exp=1_600_000_300)
    elif case == "foreign_key":
        token = wallet.token(sub, alg="ES256", key=ec.generate_private_key(ec.SECP256R1()))
    elif case == "tampered":
        head, body, sig = wallet.token(sub).split(".")
        claims = json.loads(b64url_decode(body))
        claims["sub"] = "did:wallet:someone-else"
        token = f"{head}.{b64url(json.dumps(claims).encode())}.{sig}"
    elif case == "not_a_jwt_provider":
        token, provider = wallet.token(sub), "corp"
    else:
        token = wallet.token(sub, sub=None)
    assert_problem(exchange(app, token, provider=provider), 401, "invalid_token")
    assert app.d1_rows("SELECT id FROM external_identities WHERE subject = ?", (sub,)) == []


def test_a_key_the_cached_set_lacks_is_fetched_once_more(app, wallet):
    assert_json(exchange(app, wallet.token(f"did:wallet:{uuid.uuid4().hex}")), 200)  # warms the cache
    before = wallet.fetches
    kid = wallet.add_key("RS256")  # the issuer rotates
    time.sleep(2.5)  # past the minimum interval between two fetches of one key set
    assert_json(exchange(app, wallet.token(f"did:wallet:{uuid.uuid4().hex}", kid=kid)), 200)
    assert wallet.fetches == before + 1
    # a token naming a kid nobody has does not make Edgeward fetch again and again
    for _ in range(3):
        forged = wallet.token(f"did:wallet:{uuid.uuid4().hex}", kid=kid)
        head, body, sig = forged.split(".")
        head = b64url(json.dumps({"alg": "RS256", "kid": "no-such-kid", "typ": "JWT"}).encode())
        assert_problem(exchange(app, f"{head}.{body}.{sig}"), 401, "invalid_token")
    assert wallet.fetches <= before + 2



def test_an_external_sign_in_of_an_account_with_a_second_factor_gets_the_challenge_not_a_session(app, wallet):
    import pyotp
    sub = f"did:wallet:{uuid.uuid4().hex}"
    first = assert_json(exchange(app, wallet.token(sub)), 200)
    access = first["access_token"]
    started = assert_json(app.post("/v1/me/mfa/totp", {}, access=access), 201)
    totp = pyotp.parse_uri(started["otpauth_uri"])
    assert_json(app.post("/v1/me/mfa/totp/confirm", {"code": totp.now()}, access=access), 200)

    for mode in ("bearer", "cookie"):
        resp = exchange(app, wallet.token(sub), mode=mode)
        body = assert_json(resp, 200)
        assert body.get("mfa_required") is True and "access_token" not in body, body
        assert not {ACCESS, REFRESH} & set(set_cookies(resp)), f"{mode}: a session cookie before the second factor"
    # the challenge is the ordinary one: the next step's code opens the session
    challenge = assert_json(exchange(app, wallet.token(sub)), 200)
    done = assert_json(app.post("/v1/auth/mfa/verify",
                                {"mfa_token": challenge["mfa_token"], "code": totp.at(time.time() + 30)}), 200)
    assert done["user"]["id"] == first["user"]["id"]


def test_a_passkey_is_a_way_to_sign_in_the_last_one_stays(app, wallet):
    """An account without a password: with a passkey its last identity may go, and then the
    passkey is the last way to sign in (409 `last_login_method`), and still signs in."""
    from soft_authenticator import SoftAuthenticator

    tokens = assert_json(exchange(app, wallet.token(f"did:wallet:{uuid.uuid4().hex}")), 200)
    access = tokens["access_token"]
    authn = SoftAuthenticator(origin=app.vars["WEBAUTHN_ORIGINS"])
    options = assert_json(app.post("/v1/me/passkeys/options", access=access), 200)["publicKey"]
    passkey = assert_json(app.post("/v1/me/passkeys", {"credential": authn.create(options)}, access=access), 201)
    [identity] = assert_json(app.get("/v1/me/identities", access=access), 200)["identities"]
    assert_status(app.request("DELETE", f"/v1/me/identities/{identity['id']}", access=access), 204)
    assert_problem(app.request("DELETE", f"/v1/me/passkeys/{passkey['id']}", access=access), 409,
                   "last_login_method")
    request = assert_json(app.post("/v1/auth/passkeys/options"), 200)["publicKey"]
    signed = assert_json(app.post("/v1/auth/passkeys/verify", {"credential": authn.get(request)}), 200)
    assert signed["user"]["id"] == tokens["user"]["id"]
