"""Session controls: sign out the other devices or all of them, name a device, the idle timeout
that each refresh slides up to an absolute cap, and the change of e-mail address."""
import time
import urllib.parse

import pytest

from e2e_support import (assert_json, assert_problem, assert_status, new_password, parse_utc,
                         unique_email, SESSION_FIELDS)


def _devices(app, count: int):
    email, password, first = app.create_verified_user(name="Many devices", device_name="d0")
    rest = [assert_json(app.login(email, password, device_name=f"d{i}"), 200) for i in range(1, count)]
    return email, password, [first, *rest]


def _revoke_all(app, access: str, scope: str):
    return app.request("DELETE", "/v1/auth/sessions", access=access, params={"scope": scope})


def test_signing_out_the_others_keeps_only_the_callers_session(app):
    _email, _password, sessions = _devices(app, 3)
    me, *others = sessions

    assert_status(_revoke_all(app, me["access_token"], "others"), 204)

    listed = assert_json(app.sessions(me["access_token"]), 200)["sessions"]
    assert [s["id"] for s in listed] == [me["session_id"]]
    for other in others:
        assert_problem(app.me(other["access_token"]), 401, "session_revoked")
        assert_problem(app.refresh(other["refresh_token"]), 401)
    assert_json(app.me(me["access_token"]), 200)


def test_signing_out_everywhere_ends_the_callers_session_too(app):
    _email, _password, sessions = _devices(app, 2)

    assert_status(_revoke_all(app, sessions[0]["access_token"], "all"), 204)

    for s in sessions:
        assert_problem(app.me(s["access_token"]), 401, "session_revoked")
        assert_problem(app.refresh(s["refresh_token"]), 401)


@pytest.mark.parametrize("params", [None, {"scope": "everything"}, {"scope": ["all", "others"]}],
                         ids=["no scope", "unknown scope", "two scopes"])
def test_a_sign_out_without_one_known_scope_is_a_bad_request(app, params):
    _email, _password, login = app.create_verified_user()

    resp = app.request("DELETE", "/v1/auth/sessions", access=login["access_token"], params=params)

    assert_problem(resp, 400, "invalid_request")
    assert_json(app.me(login["access_token"]), 200)


def _rename(app, access: str, session_id: str, body):
    return app.request("PATCH", f"/v1/auth/sessions/{urllib.parse.quote(session_id)}",
                       json_body=body, access=access)


def test_a_session_can_be_renamed_and_lists_under_its_new_name(app):
    _email, _password, (me, other) = _devices(app, 2)

    body = assert_json(_rename(app, me["access_token"], other["session_id"],
                               {"device_name": "  Kitchen tablet "}), 200)

    assert SESSION_FIELDS <= set(body), body
    assert (body["id"], body["device_name"], body["current"]) == \
        (other["session_id"], "Kitchen tablet", False)
    listed = {s["id"]: s for s in assert_json(app.sessions(me["access_token"]), 200)["sessions"]}
    assert listed[other["session_id"]]["device_name"] == "Kitchen tablet"
    cleared = assert_json(_rename(app, me["access_token"], me["session_id"], {"device_name": None}), 200)
    assert cleared["device_name"] is None and cleared["current"] is True


def test_renaming_another_users_or_an_ended_session_is_not_found_and_bad_names_are_refused(app):
    _e1, _p1, (mine, ended) = _devices(app, 2)
    _e2, _p2, stranger = app.create_verified_user()
    assert_status(app.revoke_session(mine["access_token"], ended["session_id"]), 204)

    assert_problem(_rename(app, mine["access_token"], stranger["session_id"], {"device_name": "x"}), 404)
    assert_problem(_rename(app, mine["access_token"], ended["session_id"], {"device_name": "x"}), 404)
    assert_problem(_rename(app, mine["access_token"], "not-a-uuid", {"device_name": "x"}), 404)
    assert_problem(_rename(app, mine["access_token"], mine["session_id"], {"device_name": "x" * 101}), 400)
    assert_problem(_rename(app, mine["access_token"], mine["session_id"], {"name": "x"}), 400)
    listed = assert_json(app.sessions(stranger["access_token"]), 200)["sessions"]
    assert listed[0]["device_name"] is None


IDLE_S = 4
ABSOLUTE_S = 10


@pytest.fixture(scope="module")
def sliding_app(app_factory):
    """Sessions end after 4 s without a refresh, and 10 s after sign-in whatever happens."""
    return app_factory(REFRESH_TOKEN_TTL_SECONDS=IDLE_S, SESSION_ABSOLUTE_LIFETIME_SECONDS=ABSOLUTE_S,
                       ACCESS_TOKEN_TTL_SECONDS=60, REFRESH_REUSE_WINDOW_SECONDS=0)


def test_each_refresh_slides_the_idle_timeout_until_the_absolute_cap(sliding_app):
    app = sliding_app
    _email, _password, login = app.create_verified_user()
    started = time.monotonic()
    pair = login
    # Refreshing every 2 s keeps the session alive past the 4 s idle timeout...
    while time.monotonic() - started < ABSOLUTE_S - 3:
        time.sleep(2)
        pair = assert_json(app.refresh(pair["refresh_token"]), 200)
        assert_json(app.me(pair["access_token"]), 200)
    assert time.monotonic() - started > IDLE_S + 2
    # ...but not past the absolute cap.
    while time.monotonic() - started < ABSOLUTE_S + 1.5:
        time.sleep(1)
    assert_problem(app.refresh(pair["refresh_token"]), 401, "invalid_refresh_token")
    assert_problem(app.me(pair["access_token"]), 401, "session_revoked")


def test_a_session_left_idle_past_the_timeout_ends(sliding_app):
    app = sliding_app
    _email, _password, login = app.create_verified_user()
    pair = assert_json(app.refresh(login["refresh_token"]), 200)

    time.sleep(IDLE_S + 1.5)

    assert_problem(app.refresh(pair["refresh_token"]), 401, "invalid_refresh_token")
    assert_problem(app.me(pair["access_token"]), 401, "session_revoked")


# ---------------------------------------------------------------- change of e-mail address

def _change_email(app, access: str, new_email: str, password: str):
    return app.post("/v1/me/email", {"new_email": new_email, "password": password}, access=access)


def test_changing_the_email_needs_the_new_address_confirmed_then_signs_out_the_other_sessions(app):
    old_email, password, (me, other) = _devices(app, 2)
    new_email = unique_email("moved")

    assert_json(_change_email(app, me["access_token"], new_email, password), 202)

    notice = app.wait_for_mail(old_email, "about to change")
    assert "token=" not in notice["text"]
    link = app.wait_for_mail(new_email, "Confirm your new e-mail")
    # Nothing has changed yet.
    assert assert_json(app.me(me["access_token"]), 200)["email"] == old_email
    user = assert_json(app.verify_email(app.token_from_mail(link)), 200)["user"]
    assert (user["email"], user["email_verified"]) == (new_email, True)
    assert assert_json(app.me(me["access_token"]), 200)["email"] == new_email
    assert_problem(app.me(other["access_token"]), 401, "session_revoked")
    assert_problem(app.login(old_email, password), 401, "invalid_credentials")
    assert_json(app.login(new_email, password), 200)
    assert_problem(app.verify_email(app.token_from_mail(link)), 400)
    types = [e["type"] for e in app.audit_events(me["access_token"])]
    assert "email_change_requested" in types and "email_changed" in types, types


def test_an_email_change_needs_the_password_and_a_new_valid_address(app):
    email, password, login = app.create_verified_user()

    assert_problem(_change_email(app, login["access_token"], unique_email(), new_password()), 401,
                   "invalid_credentials")
    assert_problem(_change_email(app, login["access_token"], "not an address", password), 400)
    assert_problem(_change_email(app, login["access_token"], email, password), 400)
    assert_problem(_change_email(app, None, unique_email(), password), 401)


def test_an_address_taken_before_the_link_is_used_is_refused_and_nothing_changes(app):
    email, password, login = app.create_verified_user()
    taken = unique_email("taken")
    assert_json(_change_email(app, login["access_token"], taken, password), 202)
    link = app.wait_for_mail(taken, "Confirm your new e-mail")
    app.create_verified_user_with_email(taken)

    assert_problem(app.verify_email(app.token_from_mail(link)), 409, "email_taken")

    assert assert_json(app.me(login["access_token"]), 200)["email"] == email
