"""Passkeys (WebAuthn Level 3) at the HTTP level, with a software authenticator
(soft_authenticator.py): registration, list, rename, removal, usernameless sign-in in bearer and
cookie mode, the refusals (origin, RP ID hash, UV flag, replayed or parallel-used challenge, a
counter going backwards) and reauthentication with a passkey.

The shared server's relying party is config/development.vars': RP ID `localhost`, origin
`http://localhost:8787` (the authenticator claims that origin, as a browser on that page would).
"""
from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor

import pyotp

from e2e_support import assert_json, assert_problem, assert_status, b64url, decode_unverified, run_in_parallel
from soft_authenticator import AT, UP, UV, SoftAuthenticator

ORIGIN = "http://localhost:8787"


def _registration_options(app, access: str) -> dict:
    return assert_json(app.post("/v1/me/passkeys/options", access=access), 200)["publicKey"]


def _register(app, access: str, authn: SoftAuthenticator, name: str | None = None) -> dict:
    body = {"credential": authn.create(_registration_options(app, access))}
    if name is not None:
        body["name"] = name
    return assert_json(app.post("/v1/me/passkeys", body, access=access), 201)


def _request_options(app) -> dict:
    return assert_json(app.post("/v1/auth/passkeys/options"), 200)["publicKey"]


def _sign_in(app, credential: dict, **extra):
    return app.post("/v1/auth/passkeys/verify", {"credential": credential, **extra})


def _user_with_passkey(app, **authn_args):
    email, password, login = app.create_verified_user()
    authn = SoftAuthenticator(origin=ORIGIN, **authn_args)
    passkey = _register(app, login["access_token"], authn, name="Laptop")
    return email, password, login, authn, passkey


def test_registration_options_follow_webauthn_l3_and_exclude_existing_passkeys(app):
    email, _password, login = app.create_verified_user()
    access = login["access_token"]
    options = _registration_options(app, access)
    assert options["rp"]["id"] == "localhost"
    assert options["user"]["name"] == email and email not in options["user"]["id"]
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] in ("required", "preferred")
    assert options["attestation"] == "none" and options["excludeCredentials"] == []
    authn = SoftAuthenticator(origin=ORIGIN)
    passkey = _register(app, access, authn)
    again = _registration_options(app, access)
    assert [c["id"] for c in again["excludeCredentials"]] == [b64url(authn.credentials[0].credential_id)]
    assert again["challenge"] != options["challenge"]
    assert passkey["name"] == "Passkey"


def test_register_list_rename_and_delete_a_passkey(app):
    _email, _password, login, authn, passkey = _user_with_passkey(app, alg=-8)
    access = login["access_token"]
    listed = assert_json(app.get("/v1/me/passkeys", access=access), 200)["passkeys"]
    assert [p["id"] for p in listed] == [passkey["id"]]
    assert listed[0]["name"] == "Laptop" and listed[0]["transports"] == ["internal"]
    assert listed[0]["last_used_at"] is None and listed[0]["backup_eligible"] is False
    assert_status(app.request("PATCH", f"/v1/me/passkeys/{passkey['id']}", json_body={"name": " Phone "},
                              access=access), 204)
    assert assert_json(app.get("/v1/me/passkeys", access=access), 200)["passkeys"][0]["name"] == "Phone"
    assert_problem(app.request("PATCH", f"/v1/me/passkeys/{passkey['id']}", json_body={"name": ""},
                               access=access), 400, "invalid_request")
    assert_problem(app.request("PATCH", "/v1/me/passkeys/nope", json_body={"name": "x"}, access=access), 404)
    # Someone else cannot see, rename or remove it.
    _e, _p, other = app.create_verified_user()
    assert assert_json(app.get("/v1/me/passkeys", access=other["access_token"]), 200)["passkeys"] == []
    assert_problem(app.request("DELETE", f"/v1/me/passkeys/{passkey['id']}", access=other["access_token"]), 404)
    assert_status(app.request("DELETE", f"/v1/me/passkeys/{passkey['id']}", access=access), 204)
    assert assert_json(app.get("/v1/me/passkeys", access=access), 200)["passkeys"] == []
    types = [e["type"] for e in app.audit_events(access)]
    for t in ("passkey_registered", "passkey_renamed", "passkey_removed"):
        assert t in types, types
    # A removed passkey signs in no more.
    assert_problem(_sign_in(app, authn.get(_request_options(app))), 401, "invalid_passkey")


def test_usernameless_sign_in_in_bearer_mode_is_two_factors_in_one(app):
    email, password, _login, authn, _passkey = _user_with_passkey(app)
    options = _request_options(app)
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    tokens = assert_json(_sign_in(app, authn.get(options), device_name="laptop"), 200)
    claims = decode_unverified(tokens["access_token"])[1]
    assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"] == "aal2"
    assert assert_json(app.me(tokens["access_token"]), 200)["email"] == email
    refreshed = assert_json(app.refresh(tokens["refresh_token"]), 200)
    assert decode_unverified(refreshed["access_token"])[1]["amr"] == ["hwk", "user", "mfa"]
    listed = assert_json(app.get("/v1/me/passkeys", access=tokens["access_token"]), 200)["passkeys"]
    assert listed[0]["last_used_at"] is not None
    assert "passkey_signed_in" in [e["type"] for e in app.audit_events(tokens["access_token"])]


def test_a_synced_passkey_signs_in_with_a_zero_counter_every_time_in_cookie_mode(app):
    email, _password, _login, authn, _passkey = _user_with_passkey(app, counting=False, backup_eligible=True)
    for _ in range(2):
        resp = _sign_in(app, authn.get(_request_options(app)), mode="cookie")
        body = assert_json(resp, 200)
        assert "access_token" not in body and "csrf_token" in body
        cookies = dict(line.split(";")[0].split("=", 1) for line in resp.raw.headers.getlist("Set-Cookie"))
        assert set(cookies) == {"__Host-ew_access", "__Secure-ew_refresh"}, cookies
        assert decode_unverified(cookies["__Host-ew_access"])[1]["amr"] == ["swk", "user", "mfa"]
    me = app.get("/v1/me", headers={"Cookie": f"__Host-ew_access={cookies['__Host-ew_access']}"})
    assert assert_json(me, 200)["email"] == email


def test_a_passkey_sign_in_skips_the_totp_step_of_an_account_with_totp(app):
    email, password, login, authn, _passkey = _user_with_passkey(app)
    access = login["access_token"]
    started = assert_json(app.post("/v1/me/mfa/totp", {}, access=access), 201)
    assert_json(app.post("/v1/me/mfa/totp/confirm", {"code": pyotp.TOTP(started["secret"]).now()}, access=access),
                200)
    assert assert_json(app.login(email, password), 200)["mfa_required"] is True
    assert "access_token" in assert_json(_sign_in(app, authn.get(_request_options(app))), 200)


def test_a_wrong_origin_cross_origin_rp_id_or_missing_uv_is_refused(app):
    _email, _password, login, authn, _passkey = _user_with_passkey(app)
    access = login["access_token"]
    for kwargs in ({"origin": "http://localhost:8788"}, {"origin": "https://evil.test"},
                   {"cross_origin": True}, {"rp_id": "evil.test"}, {"flags": UP}):
        assert_problem(_sign_in(app, authn.get(_request_options(app), **kwargs)), 401, "invalid_passkey")
    # The same checks at registration (UV missing: UP | AT).
    for kwargs in ({"origin": "https://evil.test"}, {"rp_id": "evil.test"}, {"flags": UP | AT}):
        other = SoftAuthenticator(origin=ORIGIN)
        resp = app.post("/v1/me/passkeys", {"credential": other.create(_registration_options(app, access), **kwargs)},
                        access=access)
        assert_problem(resp, 401, "invalid_passkey")
    # Credential data without the AT flag is not authenticator data.
    resp = app.post("/v1/me/passkeys", {"credential": SoftAuthenticator(origin=ORIGIN).create(
        _registration_options(app, access), flags=UP | UV)}, access=access)
    assert_problem(resp, 400, "invalid_request")
    # Another attestation format is accepted (its statement ignored).
    other = SoftAuthenticator(origin=ORIGIN)
    resp = app.post("/v1/me/passkeys", {"credential": other.create(_registration_options(app, access), fmt="packed")},
                    access=access)
    assert_status(resp, 201)
    # A sign-in challenge cannot register, a registration challenge cannot sign in.
    credential = SoftAuthenticator(origin=ORIGIN).create(_request_options_as_creation(app, access))
    assert_problem(app.post("/v1/me/passkeys", {"credential": credential}, access=access), 401, "invalid_passkey")
    reg_challenge = _registration_options(app, access)["challenge"]
    assert_problem(_sign_in(app, authn.get(_request_options(app), challenge=reg_challenge)), 401, "invalid_passkey")
    assert_problem(app.post("/v1/me/passkeys", {"credential": {"id": "x"}}, access=access), 400, "invalid_request")


def _request_options_as_creation(app, access: str) -> dict:
    options = _registration_options(app, access)
    options["challenge"] = _request_options(app)["challenge"]
    return options


def test_a_challenge_is_single_use_even_in_parallel(app):
    _email, _password, _login, authn, _passkey = _user_with_passkey(app, counting=False)
    options = _request_options(app)
    assertion = authn.get(options)
    assert_status(_sign_in(app, assertion), 200)
    assert_problem(_sign_in(app, assertion), 401, "invalid_passkey")  # replayed
    # Eight requests with one challenge: exactly one session.
    assertion = authn.get(_request_options(app))
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(r.status_code for r in pool.map(lambda _: _sign_in(app, copy.deepcopy(assertion)),
                                                           range(8)))
    assert statuses == [200] + [401] * 7, statuses


def test_a_sign_count_going_backwards_is_refused_and_audited(app):
    _email, _password, login, authn, _passkey = _user_with_passkey(app)
    cred = authn.credentials[0]
    assert_status(_sign_in(app, authn.get(_request_options(app), count=10)), 200)
    for count in (10, 9, 0):
        body = assert_problem(_sign_in(app, authn.get(_request_options(app), credential=cred, count=count)),
                              401, "invalid_passkey")
        assert "counter" in body["detail"]
    assert_status(_sign_in(app, authn.get(_request_options(app), count=11)), 200)
    types = [e["type"] for e in app.audit_events(login["access_token"])]
    assert types.count("passkey_sign_count_regressed") == 3, types


def test_registration_and_removal_need_a_recent_authentication_and_a_passkey_provides_it(reauth_app):
    app = reauth_app
    _email, password, login = app.create_verified_user()
    access = login["access_token"]
    authn = SoftAuthenticator(origin=ORIGIN)
    passkey = _register(app, access, authn)
    time.sleep(4.5)  # REAUTH_WINDOW_SECONDS=3
    assert_problem(app.post("/v1/me/passkeys/options", access=access), 401, "reauthentication_required")
    assert_problem(app.request("DELETE", f"/v1/me/passkeys/{passkey['id']}", access=access), 401,
                   "reauthentication_required")
    # Reauthenticate with the passkey (a request challenge, as for a sign-in).
    resp = app.post("/v1/auth/reauthenticate", {"credential": authn.get(_request_options(app))}, access=access)
    assert_status(resp, 204)
    refreshed = assert_json(app.refresh(login["refresh_token"]), 200)
    assert decode_unverified(refreshed["access_token"])[1]["amr"] == ["hwk", "user", "mfa"]
    assert_status(app.request("DELETE", f"/v1/me/passkeys/{passkey['id']}", access=access), 204)
    # Another account's passkey does not reauthenticate this session.
    _e, _p, other_login, other_authn, _pk = _user_with_passkey(app)
    resp = app.post("/v1/auth/reauthenticate", {"credential": other_authn.get(_request_options(app))}, access=access)
    assert_problem(resp, 401, "invalid_passkey")
    assert_problem(app.post("/v1/auth/reauthenticate", {"password": password,
                                                        "credential": authn.get(_request_options(app))},
                            access=access), 400, "invalid_request")


def test_an_admins_second_factor_reset_removes_the_passkeys_too(app_factory):
    admin_email = "passkey-admin@example.test"
    app = app_factory(ADMIN_EMAILS=admin_email)
    root = app.create_verified_user_with_email(admin_email)[2]
    _email, _password, login, authn, _passkey = _user_with_passkey(app)
    uid = login["user"]["id"]
    assert_status(app.request("DELETE", f"/v1/admin/users/{uid}/mfa", access=root["access_token"]), 204)
    assert assert_json(app.get("/v1/me/passkeys", access=login["access_token"]), 200)["passkeys"] == []
    assert_problem(_sign_in(app, authn.get(_request_options(app))), 401, "invalid_passkey")


def test_an_account_holds_at_most_twenty_passkeys_even_when_registrations_race(app_factory):
    capped = app_factory(RATE_LIMIT_PROFILE_USER="200/60")
    _email, _password, login = capped.create_verified_user()
    access = login["access_token"]
    # One authenticator per passkey: like a real one, an authenticator will not create a second
    # credential for an account the options say it already holds.
    def device() -> SoftAuthenticator:
        return SoftAuthenticator(origin=ORIGIN)

    for _ in range(17):
        _register(capped, access, device())
    # Four registrations race for the last three places: three are stored, one is refused.
    bodies = [{"credential": device().create(_registration_options(capped, access))} for _ in range(4)]
    answers = run_in_parallel(lambda i: capped.post("/v1/me/passkeys", bodies[i], access=access), 4)
    assert sorted(a.status_code for a in answers) == [201, 201, 201, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert_problem(refused, 409, "passkey_limit_reached")
    held = assert_json(capped.get("/v1/me/passkeys", access=access), 200)["passkeys"]
    assert len(held) == 20
    # Deleting one makes room again.
    assert_status(capped.request("DELETE", f"/v1/me/passkeys/{held[0]['id']}", access=access), 204)
    _register(capped, access, device())
    assert len(assert_json(capped.get("/v1/me/passkeys", access=access), 200)["passkeys"]) == 20
