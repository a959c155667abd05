"""Password reset by mail and password change while logged in."""
import secrets

from e2e_support import assert_json, assert_problem, assert_status, new_password


def test_a_password_reset_revokes_every_session_and_replaces_the_password(app):
    email, old_password, first = app.create_verified_user()
    second = assert_json(app.login(email, old_password), 200)
    assert_status(app.forgot(email), 202)
    mail = app.wait_for_mail(email, "Reset")
    assert f"{app.app_base_url}/reset-password?token=" in mail["text"]
    token = app.token_from_mail(mail)
    new = new_password()

    resp = app.reset(token, new)

    assert_status(resp, 204)
    for session in (first, second):
        assert_problem(app.me(session["access_token"]), 401, "session_revoked")
        assert_problem(app.refresh(session["refresh_token"]), 401, "invalid_refresh_token")
    assert_problem(app.login(email, old_password), 401, "invalid_credentials")
    assert_json(app.login(email, new), 200)


def test_a_password_reset_token_can_be_used_only_once(app):
    email, _password, _login = app.create_verified_user()
    assert_status(app.forgot(email), 202)
    token = app.token_from_mail(app.wait_for_mail(email, "Reset"))
    first_new = new_password()
    assert_status(app.reset(token, first_new), 204)

    second_use = app.reset(token, new_password())

    assert_problem(second_use, 400)
    assert_json(app.login(email, first_new), 200)


def test_an_unknown_password_reset_token_is_refused(app):
    resp = app.reset(secrets.token_urlsafe(32), new_password())

    assert_problem(resp, 400)


def test_a_password_change_keeps_the_callers_session_and_revokes_the_others(app):
    email, old_password, mine = app.create_verified_user()
    other = assert_json(app.login(email, old_password), 200)
    new = new_password()

    resp = app.change_password(mine["access_token"], old_password, new)

    assert_status(resp, 204)
    assert_json(app.me(mine["access_token"]), 200)
    assert_json(app.refresh(mine["refresh_token"]), 200)
    assert_problem(app.me(other["access_token"]), 401, "session_revoked")
    assert_problem(app.refresh(other["refresh_token"]), 401, "invalid_refresh_token")
    assert_problem(app.login(email, old_password), 401, "invalid_credentials")
    assert_json(app.login(email, new), 200)


def test_a_password_change_with_a_wrong_current_password_is_refused(app):
    email, password, login = app.create_verified_user()

    resp = app.change_password(login["access_token"], new_password(), new_password())

    assert_problem(resp, 401, "invalid_credentials")
    assert_json(app.me(login["access_token"]), 200)
    assert_json(app.login(email, password), 200)


def test_a_password_change_to_a_password_outside_8_to_128_characters_is_refused(app):
    email, password, login = app.create_verified_user()

    too_short = app.change_password(login["access_token"], password, new_password(7))
    too_long = app.change_password(login["access_token"], password, new_password(129))

    assert_problem(too_short, 400, "invalid_request")
    assert_problem(too_long, 400, "invalid_request")
    assert_json(app.login(email, password), 200)


def test_a_password_change_without_a_token_is_refused(app):
    resp = app.post("/v1/auth/password/change",
                    {"current_password": new_password(), "new_password": new_password()})

    assert_problem(resp, 401, "invalid_token")


def test_requesting_a_new_reset_invalidates_the_older_token(app):
    email, _password, _login = app.verified_user()
    assert_status(app.forgot(email), 202)
    older = app.token_from_mail(app.wait_for_mail(email, "Reset"))
    assert_status(app.forgot(email), 202)
    newer = app.token_from_mail(app.wait_for_mail(email, "Reset", count=2))
    assert newer != older
    new = new_password()

    with_older = app.reset(older, new_password())
    with_newer = app.reset(newer, new)

    assert_problem(with_older, 400)
    assert_status(with_newer, 204)
    assert_json(app.login(email, new), 200)


def test_a_password_reset_marks_an_unverified_address_verified(app):
    email, _password, _user = app.register_unverified()
    assert_status(app.forgot(email), 202)
    token = app.token_from_mail(app.wait_for_mail(email, "Reset"))
    new = new_password()

    resp = app.reset(token, new)

    assert_status(resp, 204)
    login = assert_json(app.login(email, new), 200)
    assert login["user"]["email_verified"] is True
    assert login["user"]["status"] == "active"


def test_a_password_change_retires_a_reset_link_sent_before_it(app):
    email, old_password, login = app.verified_user()
    assert_status(app.forgot(email), 202)
    stale_link_token = app.token_from_mail(app.wait_for_mail(email, "Reset"))
    changed = new_password()
    assert_status(app.change_password(login["access_token"], old_password, changed), 204)

    resp = app.reset(stale_link_token, new_password())

    assert_problem(resp, 400, "invalid_request")
    assert_json(app.login(email, changed), 200)
    assert_json(app.me(login["access_token"]), 200)
