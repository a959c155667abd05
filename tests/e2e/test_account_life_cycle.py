"""The whole way of a new account: register, verify by mail, log in, use and rotate tokens."""
import time

from e2e_support import (assert_json, assert_problem, assert_token_response, assert_user,
                         new_password, unique_email)


def test_a_new_user_registers_verifies_logs_in_and_rotates_refresh_tokens(app):
    # Arrange
    email, password = unique_email(), new_password()

    # Act / Assert: register
    registered = assert_json(app.register(email, password, name="Ada Lovelace"), 201)
    assert_user(registered["user"], email=email, status="pending_verification", email_verified=False)
    assert registered["user"]["name"] == "Ada Lovelace"
    user_id = registered["user"]["id"]

    # the verification mail carries a link to the configured base URL
    mail = app.wait_for_mail(email, "Verify")
    assert mail["to"] == email
    assert f"{app.app_base_url}/verify-email?token=" in mail["text"]
    token = app.token_from_mail(mail)

    verified = assert_json(app.verify_email(token), 200)
    assert_user(verified["user"], email=email, status="active", email_verified=True)
    assert verified["user"]["id"] == user_id

    # log in
    login = assert_json(app.login(email, password, device_name="Test laptop"), 200)
    assert_token_response(login, access_ttl=app.access_ttl, email=email)
    assert login["user"]["id"] == user_id

    me = assert_json(app.me(login["access_token"]), 200)
    assert_user(me, email=email, status="active", email_verified=True)
    assert me["id"] == user_id

    # rotate
    rotated = assert_json(app.refresh(login["refresh_token"]), 200)
    assert_token_response(rotated, access_ttl=app.access_ttl, email=email)
    assert rotated["refresh_token"] != login["refresh_token"]
    assert rotated["access_token"] != login["access_token"]
    assert rotated["session_id"] == login["session_id"]
    assert rotated["user"]["id"] == user_id
    assert assert_json(app.me(rotated["access_token"]), 200)["id"] == user_id

    # the used token again, inside the window: the very same successor pair
    replay = assert_json(app.refresh(login["refresh_token"]), 200)
    assert replay["refresh_token"] == rotated["refresh_token"]
    assert replay["access_token"] == rotated["access_token"]

    # and the successor still rotates normally
    next_pair = assert_json(app.refresh(rotated["refresh_token"]), 200)
    assert next_pair["refresh_token"] not in (login["refresh_token"], rotated["refresh_token"])
    assert next_pair["session_id"] == login["session_id"]


def test_refresh_with_a_rotated_token_after_the_window_revokes_the_session(short_reuse_window_app):
    app = short_reuse_window_app
    email, password, login = app.create_verified_user()
    rotated = assert_json(app.refresh(login["refresh_token"]), 200)
    time.sleep(app.reuse_window + 1.5)  # past the window, even with whole-second timestamps

    reused = app.refresh(login["refresh_token"])

    assert_problem(reused, 401, "refresh_token_reused")
    successor = assert_problem(app.refresh(rotated["refresh_token"]), 401)
    assert successor["code"] in ("invalid_refresh_token", "refresh_token_reused")
    assert_problem(app.me(rotated["access_token"]), 401, "session_revoked")
    assert_problem(app.me(login["access_token"]), 401, "session_revoked")
    # a fresh login works and no longer lists the revoked session
    fresh = assert_json(app.login(email, password), 200)
    listed = assert_json(app.sessions(fresh["access_token"]), 200)["sessions"]
    assert login["session_id"] not in {s["id"] for s in listed}

