"""Logout, listing sessions and revoking them."""
import uuid

from e2e_support import SESSION_FIELDS, assert_json, assert_problem, assert_status, parse_utc

LAPTOP = {"CF-Connecting-IP": "203.0.113.7", "User-Agent": "EdgewardE2E/1.0 (laptop)"}
PHONE = {"CF-Connecting-IP": "198.51.100.23", "User-Agent": "EdgewardE2E/1.0 (phone)",
         "X-Forwarded-For": "192.0.2.99"}


def test_logout_revokes_the_session_and_its_tokens(app):
    _email, _password, login = app.create_verified_user()

    resp = app.logout(login["access_token"])

    assert_status(resp, 204)
    assert_problem(app.me(login["access_token"]), 401, "session_revoked")
    assert_problem(app.refresh(login["refresh_token"]), 401, "invalid_refresh_token")


def test_logout_without_a_token_is_refused(app):
    resp = app.request("POST", "/v1/auth/logout")

    assert_problem(resp, 401, "invalid_token")


def test_sessions_lists_each_login_with_its_device_ip_and_user_agent(app):
    email, password, laptop = app.create_verified_user(device_name="Laptop", headers=LAPTOP)
    phone = assert_json(app.login(email, password, device_name="Phone", headers=PHONE), 200)

    resp = app.sessions(laptop["access_token"], headers=LAPTOP)

    sessions = assert_json(resp, 200)["sessions"]
    by_id = {s["id"]: s for s in sessions}
    assert set(by_id) == {laptop["session_id"], phone["session_id"]}
    for s in sessions:
        assert SESSION_FIELDS <= set(s), f"session lacks {SESSION_FIELDS - set(s)}"
        parse_utc(s["created_at"])
        parse_utc(s["last_used_at"])
        assert isinstance(s["current"], bool)
    mine, other = by_id[laptop["session_id"]], by_id[phone["session_id"]]
    assert (mine["current"], other["current"]) == (True, False)
    assert (mine["device_name"], other["device_name"]) == ("Laptop", "Phone")
    assert (mine["ip"], other["ip"]) == ("203.0.113.7", "198.51.100.23")  # never X-Forwarded-For
    assert (mine["user_agent"], other["user_agent"]) == (LAPTOP["User-Agent"], PHONE["User-Agent"])


def test_revoking_another_of_my_sessions_ends_it_and_removes_it_from_the_list(app):
    email, password, laptop = app.create_verified_user(device_name="Laptop")
    phone = assert_json(app.login(email, password, device_name="Phone"), 200)

    resp = app.revoke_session(laptop["access_token"], phone["session_id"])

    assert_status(resp, 204)
    assert_problem(app.me(phone["access_token"]), 401, "session_revoked")
    assert_problem(app.refresh(phone["refresh_token"]), 401, "invalid_refresh_token")
    sessions = assert_json(app.sessions(laptop["access_token"]), 200)["sessions"]
    assert [s["id"] for s in sessions] == [laptop["session_id"]]
    assert_json(app.me(laptop["access_token"]), 200)


def test_revoking_an_unknown_session_is_not_found(app):
    _email, _password, login = app.create_verified_user()

    resp = app.revoke_session(login["access_token"], str(uuid.uuid4()))

    assert_problem(resp, 404, "not_found")


def test_revoking_another_users_session_is_not_found_and_leaves_it_alone(app):
    _e1, _p1, mallory = app.create_verified_user()
    _e2, _p2, alice = app.create_verified_user()

    resp = app.revoke_session(mallory["access_token"], alice["session_id"])

    assert_problem(resp, 404, "not_found")
    assert_json(app.me(alice["access_token"]), 200)


def test_listing_sessions_without_a_token_is_refused(app):
    resp = app.sessions(None)

    assert_problem(resp, 401, "invalid_token")
