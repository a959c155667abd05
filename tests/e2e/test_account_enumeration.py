"""Answers that must not tell whether an address has an account."""
from e2e_support import assert_json, assert_user, media_type, new_password, shape, unique_email


def test_registering_an_existing_address_answers_like_a_new_one_and_mails_a_notice(app):
    email, password, login = app.create_verified_user()
    verification = app.wait_for_mail(email, "Verify")
    fresh = assert_json(app.register(unique_email(), new_password()), 201)

    again = app.register(email, new_password())

    body = assert_json(again, 201)
    assert shape(body) == shape(fresh)
    assert_user(body["user"], email=email, status="pending_verification", email_verified=False)
    assert body["user"]["id"] != login["user"]["id"]
    notice = app.wait_for_mail(email, "already")
    assert notice["subject"] != verification["subject"]


def test_registering_an_existing_address_leaves_the_account_untouched(app):
    email, password, login = app.create_verified_user()

    assert_json(app.register(email, new_password()), 201)

    me = assert_json(app.me(login["access_token"]), 200)
    assert me["id"] == login["user"]["id"]
    assert me["status"] == "active" and me["email_verified"] is True
    assert_json(app.login(email, password), 200)


def test_registering_an_unverified_address_twice_answers_the_same_way_both_times(app):
    email = unique_email()

    first = app.register(email, new_password())
    second = app.register(email, new_password())

    assert shape(assert_json(first, 201)) == shape(assert_json(second, 201))
    assert_user(second.json()["user"], email=email, status="pending_verification", email_verified=False)


def test_forgot_password_answers_the_same_for_known_and_unknown_addresses(app):
    email, _password, _login = app.create_verified_user()

    known = app.forgot(email)
    unknown = app.forgot(unique_email())

    assert (known.status_code, unknown.status_code) == (202, 202)
    assert media_type(known) == media_type(unknown)
    assert known.content == unknown.content


def test_resend_verification_answers_the_same_for_pending_verified_and_unknown_addresses(app):
    pending, _password, _user = app.register_unverified()
    verified, _password2, _login = app.create_verified_user()

    answers = [app.resend_verification(e) for e in (pending, verified, unique_email())]

    assert [a.status_code for a in answers] == [202, 202, 202]
    assert len({media_type(a) for a in answers}) == 1
    assert len({a.content for a in answers}) == 1
