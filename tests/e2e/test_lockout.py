"""Locking an account after failed logins (`lockout_app`: 5 failures, 3 s, doubling up to 6 s).

A locked account answers exactly as a wrong password does, so these tests tell "locked" from
"open" only by whether the correct password gets in. Only failed password checks count, a
correct one clears the count, attempts during a lock neither count nor extend it, a password
reset lifts it, and the owner is told by e-mail with a reset link.
"""
import time

import pytest

from e2e_support import (assert_json, assert_problem, assert_status, new_password, run_in_parallel,
                         unique_email, without_request_id)

THRESHOLD = 5
BASE_S = 3
MAX_S = 6
MARGIN_S = 1.5  # whole-second timestamps on the server, and the requests' own time
PARALLEL_FAILURES = 20
# The parallel test's lock must outlast its 15 hashes still queued after the lock (up to a few
# seconds when the suite shares the cores): a server of its own with a longer base time.
PARALLEL_BASE_S = 12


@pytest.fixture(scope="module")
def parallel_lockout_app(app_factory):
    return app_factory(LOCKOUT_THRESHOLD=THRESHOLD, LOCKOUT_BASE_SECONDS=PARALLEL_BASE_S,
                       LOCKOUT_MAX_SECONDS=2 * PARALLEL_BASE_S)


def _fail_logins(app, email: str, count: int) -> None:
    for _ in range(count):
        assert_problem(app.login(email, new_password()), 401, "invalid_credentials")


def test_twenty_parallel_wrong_passwords_lock_the_account_for_the_base_time_only(parallel_lockout_app):
    app = parallel_lockout_app
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
    # The 15 guesses that met the lock and the correct password did not extend it.
    time.sleep(PARALLEL_BASE_S + MARGIN_S)
    after = assert_json(app.login(email, password), 200)
    events = app.audit_events(after["access_token"])
    types = [e["type"] for e in events]
    assert types.count("login_failed") == PARALLEL_FAILURES + 1, types
    assert types.count("account_locked") == 1, types
    assert types[0] == "login_succeeded", types


def test_guessing_during_a_lock_does_not_extend_it(lockout_app):
    app = lockout_app
    email, password, _login = app.verified_user()
    _fail_logins(app, email, THRESHOLD)
    locked_at = time.monotonic()

    # An attacker keeps guessing through the lock. The server counts whole seconds, so the lock
    # may end up to a second before BASE_S: the guesses stop short of that.
    while time.monotonic() - locked_at < BASE_S - 1.3:
        assert_problem(app.login(email, new_password()), 401, "invalid_credentials")
        time.sleep(0.2)
    time.sleep(max(0.0, BASE_S + MARGIN_S - (time.monotonic() - locked_at)))

    assert_json(app.login(email, password), 200)


def test_a_failure_right_after_a_lock_doubles_the_next_one_up_to_the_cap(lockout_app):
    app = lockout_app
    email, password, _login = app.verified_user()
    _fail_logins(app, email, THRESHOLD)
    time.sleep(BASE_S + MARGIN_S)

    assert_problem(app.login(email, new_password()), 401, "invalid_credentials")  # locks for 6 s
    time.sleep(BASE_S + MARGIN_S)
    assert_problem(app.login(email, password), 401, "invalid_credentials")  # still locked
    time.sleep(MAX_S - BASE_S)
    assert_json(app.login(email, password), 200)


def test_a_successful_login_resets_the_count_of_failures(lockout_app):
    app = lockout_app
    email, password, _login = app.verified_user()
    _fail_logins(app, email, THRESHOLD - 1)
    assert_json(app.login(email, password), 200)
    _fail_logins(app, email, THRESHOLD - 1)

    resp = app.login(email, password)

    assert_json(resp, 200)


def test_a_correct_password_that_opens_no_session_still_clears_the_count(lockout_app):
    app = lockout_app
    email, password, _user = app.register_unverified()
    _fail_logins(app, email, THRESHOLD - 1)
    assert_problem(app.login(email, password), 403, "email_not_verified")
    _fail_logins(app, email, THRESHOLD - 1)

    resp = app.login(email, password)

    assert_problem(resp, 403, "email_not_verified")


def test_the_owner_is_mailed_a_reset_link_that_lifts_the_lock(lockout_app):
    app = lockout_app
    email, password, _login = app.verified_user()
    _fail_logins(app, email, THRESHOLD)
    assert_problem(app.login(email, password), 401, "invalid_credentials")  # locked

    notice = app.wait_for_mail(email, "locked")
    new = new_password()
    assert_status(app.reset(app.token_from_mail(notice), new), 204)

    assert_json(app.login(email, new), 200)
    assert app.count_mail(email, "locked") == 1
