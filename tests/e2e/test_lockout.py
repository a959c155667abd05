"""Locking an account after failed logins (`lockout_app`: 5 failures, 3 s, doubling up to 6 s).

A locked account answers exactly as a wrong password does, so these tests tell "locked" from
"open" only by whether the correct password gets in. Every attempt while locked is itself a
failure and extends the lock: the tests make as few of them as possible and wait out the cap.
"""
import time

from e2e_support import (assert_json, assert_problem, new_password, run_in_parallel,
                         unique_email, without_request_id)

THRESHOLD = 5
BASE_S = 3
MAX_S = 6
MARGIN_S = 1.5  # whole-second timestamps on the server, and the requests' own time
PARALLEL_FAILURES = 20


def _fail_logins(app, email: str, count: int) -> None:
    for _ in range(count):
        assert_problem(app.login(email, new_password()), 401, "invalid_credentials")


def test_twenty_parallel_wrong_passwords_lock_the_account_and_each_one_is_counted(lockout_app):
    app = lockout_app
    email, password, _login = app.verified_user()

    failures = run_in_parallel(lambda _i: app.login(email, new_password()), PARALLEL_FAILURES)
    locked = app.login(email, password)
    unknown = app.login(unique_email(), password)

    for resp in failures:
        assert_problem(resp, 401, "invalid_credentials")
    locked_body = assert_problem(locked, 401, "invalid_credentials")
    unknown_body = assert_problem(unknown, 401, "invalid_credentials")
    assert without_request_id(locked_body) == without_request_id(unknown_body)
    assert locked.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]
    # the attempt while locked extended the lock to at most MAX_S: one try once that is over
    time.sleep(MAX_S + MARGIN_S)
    after = assert_json(app.login(email, password), 200)
    events = app.audit_events(after["access_token"])
    types = [e["type"] for e in events]
    # 20 wrong passwords and the correct one that met the lock
    assert types.count("login_failed") == PARALLEL_FAILURES + 1, types
    assert types.count("account_locked") >= 1, types
    assert types[0] == "login_succeeded", types


def test_the_correct_password_gets_in_once_the_base_lock_time_is_over(lockout_app):
    app = lockout_app
    email, password, _login = app.verified_user()
    _fail_logins(app, email, THRESHOLD)

    time.sleep(BASE_S + MARGIN_S)
    resp = app.login(email, password)

    assert_json(resp, 200)


def test_each_attempt_while_locked_doubles_the_wait(lockout_app):
    app = lockout_app
    email, password, _login = app.verified_user()
    _fail_logins(app, email, THRESHOLD)

    # Act / Assert: locked at once; the attempt makes the wait 2 * BASE_S = MAX_S
    assert_problem(app.login(email, password), 401, "invalid_credentials")
    # past the base time but not past the doubled one: still locked (and now locked for MAX_S)
    time.sleep(BASE_S + 1)
    assert_problem(app.login(email, password), 401, "invalid_credentials")
    # the wait stays capped at MAX_S
    time.sleep(MAX_S + MARGIN_S)
    assert_json(app.login(email, password), 200)


def test_a_successful_login_resets_the_count_of_failures(lockout_app):
    app = lockout_app
    email, password, _login = app.verified_user()
    _fail_logins(app, email, THRESHOLD - 1)
    assert_json(app.login(email, password), 200)
    _fail_logins(app, email, THRESHOLD - 1)

    resp = app.login(email, password)

    assert_json(resp, 200)
