"""Login refusals and the single use of verification tokens."""
import uuid

from e2e_support import assert_json, assert_problem, new_password, unique_email


def _without_request_id(problem: dict) -> dict:
    return {k: v for k, v in problem.items() if k != "request_id"}


def test_login_before_the_email_is_verified_is_refused_as_not_verified(app):
    email, password, _user = app.register_unverified()

    resp = app.login(email, password)

    assert_problem(resp, 403, "email_not_verified")


def test_login_to_an_unverified_account_with_a_wrong_password_reveals_nothing_about_it(app):
    email, _password, _user = app.register_unverified()

    resp = app.login(email, new_password())

    assert_problem(resp, 401, "invalid_credentials")


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(app):
    email, _password, _login = app.create_verified_user()

    wrong_password = app.login(email, new_password())
    unknown_email = app.login(unique_email(), new_password())

    first = assert_problem(wrong_password, 401, "invalid_credentials")
    second = assert_problem(unknown_email, 401, "invalid_credentials")
    assert _without_request_id(first) == _without_request_id(second)
    assert wrong_password.headers["WWW-Authenticate"] == unknown_email.headers["WWW-Authenticate"]


def test_a_verification_token_can_be_used_only_once(app):
    email, password, _user = app.register_unverified()
    token = app.token_from_mail(app.wait_for_mail(email, "Verify"))
    assert_json(app.verify_email(token), 200)

    second_use = app.verify_email(token)

    assert_problem(second_use, 400)
    assert_json(app.login(email, password), 200)


def test_an_unknown_verification_token_is_refused(app):
    resp = app.verify_email(uuid.uuid4().hex + uuid.uuid4().hex)

    assert_problem(resp, 400)


def test_resending_verification_mails_a_new_link_that_verifies(app):
    email, password, _user = app.register_unverified()
    app.wait_for_mail(email, "Verify")

    resp = app.resend_verification(email)

    assert resp.status_code == 202, resp.text
    fresh = app.wait_for_mail(email, "Verify", count=2)
    assert_json(app.verify_email(app.token_from_mail(fresh)), 200)
    assert_json(app.login(email, password), 200)
