"""The policy for new passwords (register, reset, change): common passwords, the account's own
e-mail, and passwords known from breaches (`breach_app` asks the local fake range API, `range_api`).
"""
import re
import time

import pytest

from e2e_support import assert_json, assert_problem, assert_status, new_password, unique_email
from fake_range_api import sha1_hex

COMMON = ["password123", "12345678", "qwertyuiop", "iloveyou1", "football1"]
TIMEOUT_S = 0.5  # BREACHED_PASSWORDS_TIMEOUT_MS of breach_app
RANGE_PATH = re.compile(r"/range/[0-9A-F]{5}")


# ---------------------------------------------------------------- built-in rules

@pytest.mark.parametrize("password", COMMON)
def test_registering_with_a_common_password_is_refused_as_weak(app, password):
    resp = app.register(unique_email(), password)

    assert_problem(resp, 400, "weak_password")


def test_registering_with_the_email_as_password_is_refused_as_weak(app):
    email = unique_email()

    resp = app.register(email, email.upper())

    assert_problem(resp, 400, "weak_password")


def test_changing_to_a_common_password_or_the_email_is_refused_as_weak(app):
    email, password, login = app.verified_user()

    common = app.change_password(login["access_token"], password, "password123")
    own_email = app.change_password(login["access_token"], password, email)

    assert_problem(common, 400, "weak_password")
    assert_problem(own_email, 400, "weak_password")
    assert_json(app.login(email, password), 200)


def test_resetting_to_a_common_password_or_the_email_is_refused_as_weak(app):
    email, password, _login = app.verified_user()
    assert_status(app.forgot(email), 202)
    token = app.token_from_mail(app.wait_for_mail(email, "Reset"))

    common = app.reset(token, "qwertyuiop")
    own_email = app.reset(token, email.capitalize())

    assert_problem(common, 400, "weak_password")
    assert_problem(own_email, 400, "weak_password")
    assert_json(app.login(email, password), 200)


# ---------------------------------------------------------------- breached passwords

@pytest.mark.parametrize("line_ending", ["\r\n", "\n"], ids=["CRLF", "LF"])
def test_a_breached_password_is_refused_and_only_five_hash_characters_leave(breach_app, range_api,
                                                                            line_ending):
    password = new_password()
    digest = sha1_hex(password)
    range_api.line_ending = line_ending
    range_api.add(password, 3)

    resp = breach_app.register(unique_email(), password)

    assert_problem(resp, 400, "weak_password")
    paths = range_api.paths
    assert paths, "the range API was never asked"
    assert all(RANGE_PATH.fullmatch(p) for p in paths), paths
    assert set(paths) == {f"/range/{digest[:5]}"}
    assert not any(digest[5:] in p or password in p for p in paths), paths


def test_a_password_listed_with_a_count_of_zero_is_accepted(breach_app, range_api):
    password = new_password()
    range_api.add(password, 0)  # padding lines carry count 0

    resp = breach_app.register(unique_email(), password)

    assert_json(resp, 201)
    assert set(range_api.paths) == {f"/range/{sha1_hex(password)[:5]}"}


def test_changing_to_a_breached_password_is_refused_as_weak(breach_app, range_api):
    email, password, login = breach_app.verified_user()
    breached = new_password()
    range_api.add(breached, 12)

    resp = breach_app.change_password(login["access_token"], password, breached)

    assert_problem(resp, 400, "weak_password")
    assert f"/range/{sha1_hex(breached)[:5]}" in range_api.paths
    assert_json(breach_app.login(email, password), 200)


def test_signup_proceeds_when_the_range_api_fails(breach_app, range_api):
    range_api.status = 500
    password = new_password()
    range_api.add(password, 3)  # would be refused, if the answer could be read

    resp = breach_app.register(unique_email(), password)

    assert_json(resp, 201)
    assert set(range_api.paths) == {f"/range/{sha1_hex(password)[:5]}"}


def test_signup_proceeds_without_waiting_when_the_range_api_is_too_slow(breach_app, range_api):
    range_api.delay_s = TIMEOUT_S + 4
    password = new_password()
    range_api.add(password, 3)

    started = time.monotonic()
    resp = breach_app.register(unique_email(), password)
    elapsed = time.monotonic() - started

    assert_json(resp, 201)
    assert elapsed < TIMEOUT_S + 2.5, f"registration took {elapsed:.1f} s"
    assert set(range_api.paths) == {f"/range/{sha1_hex(password)[:5]}"}
