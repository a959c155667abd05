"""Deactivating and reactivating an account; deleting it and restoring it within the grace period."""
from datetime import datetime, timedelta, timezone

from e2e_support import (assert_json, assert_problem, assert_token_response, assert_user, from_ip,
                         new_password, parse_utc, unique_email)

DEFAULT_DELETION_GRACE_S = 2_592_000


def _assert_revoked(app, *logins: dict) -> None:
    for login in logins:
        assert_problem(app.me(login["access_token"]), 401, "session_revoked")
        assert_problem(app.refresh(login["refresh_token"]), 401)


def _event(events: list[dict], type_: str) -> dict:
    matching = [e for e in events if e["type"] == type_]
    assert len(matching) == 1, f"{len(matching)} {type_!r} events in {[e['type'] for e in events]}"
    return matching[0]


# ---------------------------------------------------------------- deactivate

def test_deactivating_revokes_every_session_and_login_then_says_deactivated(app):
    email, password, first = app.verified_user()
    second = assert_json(app.login(email, password), 200)

    resp = app.deactivate(first["access_token"], password)

    body = assert_json(resp, 200)
    assert_user(body["user"], email=email, status="deactivated")
    _assert_revoked(app, first, second)
    assert_problem(app.login(email, password), 403, "account_deactivated")
    assert_problem(app.login(email, new_password()), 401, "invalid_credentials")


def test_deactivating_with_a_wrong_password_is_refused_and_changes_nothing(app):
    email, password, login = app.verified_user()

    resp = app.deactivate(login["access_token"], new_password())

    assert_problem(resp, 401, "invalid_credentials")
    assert assert_json(app.me(login["access_token"]), 200)["status"] == "active"
    assert_json(app.login(email, password), 200)


def test_deactivating_without_a_token_is_refused(app):
    resp = app.deactivate(None, new_password())

    assert_problem(resp, 401, "invalid_token")


def test_reactivating_with_the_password_signs_in_and_makes_the_account_active(app):
    email, password, login = app.verified_user()
    assert_json(app.deactivate(login["access_token"], password), 200)

    wrong = app.reactivate(email, new_password())
    resp = app.reactivate(email, password)

    assert_problem(wrong, 401, "invalid_credentials")
    body = assert_json(resp, 200)
    assert_token_response(body, access_ttl=app.access_ttl, email=email)
    assert body["user"]["status"] == "active"
    assert assert_json(app.me(body["access_token"]), 200)["status"] == "active"
    assert_json(app.login(email, password), 200)


def test_reactivating_an_account_that_is_not_deactivated_is_a_conflict(app):
    email, password, _login = app.verified_user()

    resp = app.reactivate(email, password)
    wrong = app.reactivate(email, new_password())
    unknown = app.reactivate(unique_email(), new_password())

    assert_problem(resp, 409, "account_not_deactivated")
    assert_problem(wrong, 401, "invalid_credentials")
    assert_problem(unknown, 401, "invalid_credentials")


def test_deactivation_and_reactivation_are_in_the_audit_log(app):
    email, password, login = app.verified_user()
    client = from_ip(**{"User-Agent": "EdgewardE2E/1.0 (status)"})
    deactivated = app.deactivate(login["access_token"], password, headers=client)
    assert_json(deactivated, 200)
    reactivated = app.reactivate(email, password, headers=client)
    access = assert_json(reactivated, 200)["access_token"]

    events = app.audit_events(access)

    types = [e["type"] for e in events]
    off, on = _event(events, "account_deactivated"), _event(events, "account_reactivated")
    assert types.index("account_reactivated") < types.index("account_deactivated"), types
    for event, resp in ((off, deactivated), (on, reactivated)):
        assert event["ip"] == client["CF-Connecting-IP"]
        assert event["user_agent"] == client["User-Agent"]
        assert event["request_id"] == resp.headers["X-Request-Id"]


# ---------------------------------------------------------------- delete and restore

def test_deleting_starts_the_grace_period_revokes_sessions_and_blocks_login(app):
    email, password, first = app.verified_user()
    second = assert_json(app.login(email, password), 200)
    before = datetime.now(timezone.utc)

    resp = app.delete_me(first["access_token"], password)

    body = assert_json(resp, 202)
    assert_user(body["user"], email=email, status="pending_deletion")
    due = parse_utc(body["user"]["deletion_due_at"])
    expected = before + timedelta(seconds=DEFAULT_DELETION_GRACE_S)
    assert abs((due - expected).total_seconds()) < 120, (due, expected)
    _assert_revoked(app, first, second)
    assert_problem(app.login(email, password), 403, "account_pending_deletion")
    assert_problem(app.login(email, new_password()), 401, "invalid_credentials")


def test_deleting_with_a_wrong_password_is_refused_and_changes_nothing(app):
    email, password, login = app.verified_user()

    resp = app.delete_me(login["access_token"], new_password())

    assert_problem(resp, 401, "invalid_credentials")
    assert assert_json(app.me(login["access_token"]), 200)["status"] == "active"
    assert_json(app.login(email, password), 200)


def test_restoring_within_the_grace_period_signs_in_and_cancels_the_deletion(app):
    email, password, login = app.verified_user()
    assert_json(app.delete_me(login["access_token"], password), 202)

    wrong = app.restore(email, new_password())
    resp = app.restore(email, password)

    assert_problem(wrong, 401, "invalid_credentials")
    body = assert_json(resp, 200)
    assert_token_response(body, access_ttl=app.access_ttl, email=email)
    assert body["user"]["status"] == "active"
    assert body["user"].get("deletion_due_at") is None
    me = assert_json(app.me(body["access_token"]), 200)
    assert me["status"] == "active" and me.get("deletion_due_at") is None
    assert_json(app.login(email, password), 200)


def test_restoring_an_account_that_is_not_pending_deletion_is_a_conflict(app):
    (email, password, _login), (deactivated_email, deactivated_password, other) = \
        app.verified_users(2)
    assert_json(app.deactivate(other["access_token"], deactivated_password), 200)

    active = app.restore(email, password)
    deactivated = app.restore(deactivated_email, deactivated_password)
    wrong = app.restore(email, new_password())

    assert_problem(active, 409, "account_not_pending_deletion")
    assert_problem(deactivated, 409, "account_not_pending_deletion")
    assert_problem(wrong, 401, "invalid_credentials")


def test_reactivating_an_account_pending_deletion_is_a_conflict(app):
    email, password, login = app.verified_user()
    assert_json(app.delete_me(login["access_token"], password), 202)

    resp = app.reactivate(email, password)

    assert_problem(resp, 409, "account_not_deactivated")
    assert_problem(app.login(email, password), 403, "account_pending_deletion")


def test_deletion_and_restore_are_in_the_audit_log(app):
    email, password, login = app.verified_user()
    client = from_ip(**{"User-Agent": "EdgewardE2E/1.0 (deletion)"})
    deleted = app.delete_me(login["access_token"], password, headers=client)
    assert_json(deleted, 202)
    restored = app.restore(email, password, headers=client)
    access = assert_json(restored, 200)["access_token"]

    events = app.audit_events(access)

    types = [e["type"] for e in events]
    requested, back = _event(events, "deletion_requested"), _event(events, "account_restored")
    assert types.index("account_restored") < types.index("deletion_requested"), types
    for event, resp in ((requested, deleted), (back, restored)):
        assert event["ip"] == client["CF-Connecting-IP"]
        assert event["user_agent"] == client["User-Agent"]
        assert event["request_id"] == resp.headers["X-Request-Id"]


def test_the_scheduled_purge_leaves_an_account_whose_grace_period_is_still_running(app):
    email, password, login = app.verified_user()
    assert_json(app.delete_me(login["access_token"], password), 202)

    app.run_cron()

    assert_problem(app.login(email, password), 403, "account_pending_deletion")
    assert_json(app.restore(email, password), 200)
