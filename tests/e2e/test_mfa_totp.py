"""TOTP second factor (RFC 6238) with recovery codes, driven with codes from `pyotp`.

Enrolment is pending until a code proves the seed; then the password alone no longer opens a
session: login answers `mfa_required` with a short-lived, single-use `mfa_token`, and
`POST /v1/auth/mfa/verify` with a TOTP code or a recovery code opens it. A TOTP time step is
accepted once, a recovery code once, an `mfa_token` survives three wrong codes, and wrong codes
count toward the account lockout. The confirming code burns its step, so sign-ins here use the
next step's code (accepted: one step of clock skew either way).
"""
import time

import pyotp

from e2e_support import (assert_json, assert_problem, assert_status, decode_unverified, new_password,
                          run_in_parallel)

STEP_S = 30


def _enrol(app, access: str) -> tuple[pyotp.TOTP, list[str]]:
    started = assert_json(app.post("/v1/me/mfa/totp", {}, access=access), 201)
    totp = pyotp.parse_uri(started["otpauth_uri"])
    assert totp.secret == started["secret"]
    confirmed = assert_json(app.post("/v1/me/mfa/totp/confirm", {"code": totp.now()}, access=access), 200)
    return totp, confirmed["recovery_codes"]


def _enrolled_user(app):
    email, password, login = app.create_verified_user()
    totp, codes = _enrol(app, login["access_token"])
    return email, password, login["access_token"], totp, codes


def _next_code(totp: pyotp.TOTP) -> str:
    """The code of the step after the current one (the current one was just used)."""
    return totp.at(time.time() + STEP_S)


def _wrong_code(totp: pyotp.TOTP) -> str:
    """Six digits that are no code of the steps around now."""
    now = time.time()
    near = {totp.at(now + d) for d in (-2 * STEP_S, -STEP_S, 0, STEP_S, 2 * STEP_S)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c not in near)


def _mfa_login(app, email: str, password: str, **extra) -> dict:
    body = assert_json(app.post("/v1/auth/login", {"email": email, "password": password, **extra}), 200)
    assert body["mfa_required"] is True, body
    assert set(body) == {"mfa_required", "mfa_token", "methods", "expires_in"}, body
    assert body["methods"] == ["totp", "recovery_code"]
    return body


def _verify(app, mfa_token: str, code: str):
    return app.post("/v1/auth/mfa/verify", {"mfa_token": mfa_token, "code": code})


def test_enrolment_is_pending_until_a_code_proves_it_then_sign_in_needs_the_second_factor(app):
    email, password, login = app.create_verified_user()
    access = login["access_token"]
    started = assert_json(app.post("/v1/me/mfa/totp", {}, access=access), 201)
    assert len(pyotp.TOTP(started["secret"]).byte_secret()) == 20, "160-bit seed"
    assert started["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.parse_uri(started["otpauth_uri"])
    assert (totp.digits, totp.interval, totp.name) == (6, 30, email)

    # Pending: the password alone still signs in.
    assert "access_token" in assert_json(app.login(email, password), 200)
    assert_problem(app.post("/v1/me/mfa/totp/confirm", {"code": pyotp.TOTP(pyotp.random_base32()).now()},
                            access=access), 401, "invalid_mfa_code")
    assert_problem(app.post("/v1/me/mfa/totp/confirm", {"code": "12ab"}, access=access), 400, "invalid_request")

    codes = assert_json(app.post("/v1/me/mfa/totp/confirm", {"code": totp.now()}, access=access), 200)
    recovery = codes["recovery_codes"]
    assert len(recovery) == 10 and len(set(recovery)) == 10
    # The session signed in with the password alone no longer passes step-up.
    assert_problem(app.post("/v1/me/mfa/totp", {}, access=access), 401, "reauthentication_required")
    assert_problem(app.post("/v1/me/mfa/totp/confirm", {"code": totp.now()}, access=access), 409,
                   "mfa_already_enabled")

    challenge = _mfa_login(app, email, password)
    assert 0 < challenge["expires_in"] <= 300
    tokens = assert_json(_verify(app, challenge["mfa_token"], _next_code(totp)), 200)
    _header, claims = decode_unverified(tokens["access_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == "aal2"
    # A refreshed access token still says how the session was authenticated.
    refreshed = assert_json(app.refresh(tokens["refresh_token"]), 200)
    assert decode_unverified(refreshed["access_token"])[1]["amr"] == ["pwd", "otp", "mfa"]
    assert_problem(app.post("/v1/me/mfa/totp", {}, access=tokens["access_token"]), 409, "mfa_already_enabled")
    assert decode_unverified(login["access_token"])[1]["amr"] == ["pwd"]
    assert decode_unverified(login["access_token"])[1]["acr"] == "aal1"

    # Sealed and hashed at rest: neither the seed nor any recovery code is stored in clear.
    assert app.stored_rows_containing(started["secret"], *recovery) == []
    types = [e["type"] for e in app.audit_events(tokens["access_token"])]
    assert "totp_enrolment_started" in types and "totp_enabled" in types


def test_a_totp_code_is_accepted_once(app):
    email, password, _access, totp, codes = _enrolled_user(app)
    code = _next_code(totp)
    assert_json(_verify(app, _mfa_login(app, email, password)["mfa_token"], code), 200)

    second = _mfa_login(app, email, password)["mfa_token"]
    assert_problem(_verify(app, second, code), 401, "invalid_mfa_code")
    # An older step after a newer one was used is no better.
    assert_problem(_verify(app, second, totp.now()), 401, "invalid_mfa_code")
    # The token survived those two wrong tries.
    assert_json(_verify(app, second, codes[0]), 200)


def test_two_parallel_sign_ins_with_one_code_open_one_session(app):
    email, password, _access, totp, _codes = _enrolled_user(app)
    tokens = [_mfa_login(app, email, password)["mfa_token"] for _ in range(2)]
    code = _next_code(totp)
    answers = run_in_parallel(lambda i: _verify(app, tokens[i], code), 2)
    assert sorted(r.status_code for r in answers) == [200, 401], [r.text for r in answers]


def test_recovery_codes_are_single_use_and_audited(app):
    email, password, _access, _totp, codes = _enrolled_user(app)
    tokens = assert_json(_verify(app, _mfa_login(app, email, password)["mfa_token"], codes[0]), 200)
    _header, claims = decode_unverified(tokens["access_token"])
    assert claims["amr"] == ["pwd", "mfa"] and claims["acr"] == "aal2"

    again = _mfa_login(app, email, password)["mfa_token"]
    assert_problem(_verify(app, again, codes[0]), 401, "invalid_mfa_code")
    # Typed loosely: upper case, a space for the dash.
    assert_json(_verify(app, again, codes[1].upper().replace("-", " ")), 200)
    types = [e["type"] for e in app.audit_events(tokens["access_token"])]
    assert types.count("recovery_code_used") == 2, types
    assert types.count("mfa_failed") == 1, types


def test_an_mfa_token_dies_after_three_wrong_codes_and_when_used(app):
    email, password, _access, totp, codes = _enrolled_user(app)
    token = _mfa_login(app, email, password)["mfa_token"]
    for _ in range(3):
        assert_problem(_verify(app, token, _wrong_code(totp)), 401, "invalid_mfa_code")
    assert_problem(_verify(app, token, codes[0]), 401, "invalid_mfa_token")

    token = _mfa_login(app, email, password)["mfa_token"]
    assert_json(_verify(app, token, codes[0]), 200)
    assert_problem(_verify(app, token, codes[1]), 401, "invalid_mfa_token")
    assert_problem(_verify(app, "x" * 43, codes[1]), 401, "invalid_mfa_token")
    assert_problem(_verify(app, token, "12ab"), 400, "invalid_request")
    assert_problem(_verify(app, "short", codes[1]), 401, "invalid_mfa_token")


def _set_cookies(resp) -> dict[str, str]:
    return dict(line.split(";")[0].split("=", 1) for line in resp.raw.headers.getlist("Set-Cookie"))


def test_cookie_mode_sign_in_sets_the_cookies_only_after_the_second_factor(app):
    email, password, _access, _totp, codes = _enrolled_user(app)
    first = app.post("/v1/auth/login", {"email": email, "password": password, "mode": "cookie"})
    challenge = assert_json(first, 200)
    assert challenge["mfa_required"] is True and _set_cookies(first) == {}
    resp = _verify(app, challenge["mfa_token"], codes[0])
    body = assert_json(resp, 200)
    assert "access_token" not in body and "csrf_token" in body
    cookies = _set_cookies(resp)
    assert set(cookies) == {"__Host-ew_access", "__Secure-ew_refresh"}, cookies
    me = app.get("/v1/me", headers={"Cookie": f"__Host-ew_access={cookies['__Host-ew_access']}"})
    assert assert_json(me, 200)["email"] == email
    assert decode_unverified(cookies["__Host-ew_access"])[1]["amr"] == ["pwd", "mfa"]


def test_wrong_codes_count_toward_the_lockout(lockout_app):
    """`lockout_app`: 5 failures lock for 3 s. A right password of an account with a second
    factor neither counts nor clears the failures: wrong codes count on across sign-ins."""
    app = lockout_app
    email, password, _access, totp, codes = _enrolled_user(app)
    for _ in range(3):  # three sign-ins, one wrong code each: no right password resets the count
        assert_problem(_verify(app, _mfa_login(app, email, password)["mfa_token"], _wrong_code(totp)), 401,
                       "invalid_mfa_code")
    fourth = _mfa_login(app, email, password)["mfa_token"]
    fifth = _mfa_login(app, email, password)["mfa_token"]
    assert_problem(_verify(app, fourth, _wrong_code(totp)), 401, "invalid_mfa_code")
    assert_problem(_verify(app, fourth, _wrong_code(totp)), 401, "invalid_mfa_code")  # 5th failure: locked
    # Locked: a right code is refused unchecked (and not spent), the password too.
    assert_problem(_verify(app, fifth, codes[0]), 401, "invalid_mfa_code")
    assert_problem(app.login(email, password), 401, "invalid_credentials")
    time.sleep(3 + 1.5)
    tokens = assert_json(_verify(app, fifth, codes[0]), 200)
    types = [e["type"] for e in app.audit_events(tokens["access_token"])]
    assert types.count("mfa_failed") == 6, types
    assert types.count("account_locked") == 1, types
    assert app.wait_for_mail(email, "locked")
    # The right code cleared the count: five more failures are needed to lock again.
    for _ in range(2):
        assert_problem(_verify(app, _mfa_login(app, email, password)["mfa_token"], _wrong_code(totp)), 401,
                       "invalid_mfa_code")
    assert_json(_verify(app, _mfa_login(app, email, password)["mfa_token"], codes[1]), 200)


def test_disable_with_the_password_or_a_code(app):
    email, password, access, totp, codes = _enrolled_user(app)
    # Removing a factor is a sensitive action: a session signed in with it (see test_step_up.py).
    assert_problem(app.request("DELETE", "/v1/me/mfa/totp", json_body={"password": password}, access=access),
                   401, "reauthentication_required")
    mfa_access = assert_json(_verify(app, _mfa_login(app, email, password)["mfa_token"], codes[9]),
                             200)["access_token"]

    def remove(body):
        return app.request("DELETE", "/v1/me/mfa/totp", json_body=body, access=mfa_access)

    assert_problem(remove({"password": new_password()}), 401, "invalid_credentials")
    assert_problem(remove({"code": _wrong_code(totp)}), 401, "invalid_mfa_code")
    assert_problem(remove({}), 400, "invalid_request")
    assert_problem(remove({"password": password, "code": codes[0]}), 400, "invalid_request")
    assert_status(remove({"code": codes[0]}), 204)
    assert "access_token" in assert_json(app.login(email, password), 200), "the password alone again"
    assert_problem(remove({"password": password}), 404, "not_found")
    user_id = decode_unverified(access)[1]["sub"]
    assert app.d1_rows("SELECT * FROM recovery_codes WHERE user_id = ?", (user_id,)) == []
    assert app.d1_rows("SELECT * FROM totp_factors WHERE user_id = ?", (user_id,)) == []

    # Enrol again, remove with the password.
    _enrol(app, mfa_access)
    assert_status(remove({"password": password}), 204)
    types = [e["type"] for e in app.audit_events(mfa_access)]
    assert types.count("totp_disabled") == 2, types
