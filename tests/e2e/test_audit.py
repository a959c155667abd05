"""The audit log: what caused each event (type, IP, user agent, request id), paging, ownership."""
from e2e_support import (AUDIT_EVENT_FIELDS, assert_json, assert_problem, assert_uuid, from_ip,
                         new_password, parse_utc, unique_email)


def _client(n: int) -> dict:
    return from_ip(**{"User-Agent": f"EdgewardE2E/1.0 (client {n})"})


def test_paging_through_the_audit_log_returns_every_event_once_newest_first(app):
    # Arrange: five events, each caused by another client
    email, password = unique_email(), new_password()
    clients = [_client(n) for n in range(5)]
    registered = app.register(email, password, headers=clients[0])
    assert_json(registered, 201)
    token = app.token_from_mail(app.wait_for_mail(email, "Verify"))
    verified = app.verify_email(token, headers=clients[1])
    assert_json(verified, 200)
    failed = app.login(email, new_password(), headers=clients[2])
    assert_problem(failed, 401, "invalid_credentials")
    first = app.login(email, password, headers=clients[3])
    second = app.login(email, password, headers=clients[4])
    access = assert_json(second, 200)["access_token"]
    assert_json(first, 200)
    causes = [second, first, failed, verified, registered]  # newest first
    expected_types = ["login_succeeded", "login_succeeded", "login_failed", "email_verified", "register"]

    # Act
    pages = app.audit_pages(access, limit=2)
    whole = assert_json(app.audit(access, limit=100), 200)

    # Assert: pages of at most 2 that add up to the whole log, each event once
    assert [len(p) for p in pages] == [2, 2, 1]
    events = [e for page in pages for e in page]
    assert events == whole["events"] and whole["next_cursor"] is None
    assert len({e["id"] for e in events}) == len(events)
    assert [e["type"] for e in events] == expected_types
    times = [parse_utc(e["created_at"]) for e in events]
    assert times == sorted(times, reverse=True)
    for event, resp, client in zip(events, causes, reversed(clients)):
        assert AUDIT_EVENT_FIELDS <= set(event), f"event lacks {AUDIT_EVENT_FIELDS - set(event)}"
        assert_uuid(event["id"])
        assert event["ip"] == client["CF-Connecting-IP"], event
        assert event["user_agent"] == client["User-Agent"], event
        assert event["request_id"] == resp.headers["X-Request-Id"], event
    assert events[0]["session_id"] == second.json()["session_id"]
    assert events[1]["session_id"] == first.json()["session_id"]


def test_the_audit_log_holds_only_the_callers_events(app):
    (mine_email, _p1, mine), (_e2, _p2, theirs) = app.verified_users(2)
    assert_problem(app.login(mine_email, new_password()), 401, "invalid_credentials")

    events = app.audit_events(theirs["access_token"])

    assert [e["type"] for e in events] == ["login_succeeded", "email_verified", "register"]
    assert len(app.audit_events(mine["access_token"])) == 4


def test_the_audit_log_records_logout_password_change_and_reset(app):
    email, password, login = app.verified_user()
    other = assert_json(app.login(email, password), 200)
    assert app.logout(other["access_token"]).status_code == 204
    changed = new_password()
    assert app.change_password(login["access_token"], password, changed).status_code == 204
    assert app.forgot(email).status_code == 202
    token = app.token_from_mail(app.wait_for_mail(email, "Reset"))
    reset_to = new_password()
    assert app.reset(token, reset_to).status_code == 204
    access = assert_json(app.login(email, reset_to), 200)["access_token"]

    types = [e["type"] for e in app.audit_events(access)]

    for expected in ("logout", "password_changed", "password_reset_requested", "password_reset"):
        assert expected in types, types
    newest_first = ("password_reset", "password_reset_requested", "password_changed", "logout")
    order = [types.index(t) for t in newest_first]
    assert order == sorted(order), types


def test_a_bad_audit_cursor_is_refused(app):
    _email, _password, login = app.verified_user()

    resp = app.audit(login["access_token"], cursor="not-a-cursor")

    assert_problem(resp, 400)


def test_the_audit_log_without_a_token_is_refused(app):
    resp = app.audit(None)

    assert_problem(resp, 401, "invalid_token")
