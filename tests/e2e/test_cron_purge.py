"""The scheduled purge (`purge_app`: deletion due at once, unverified accounts expire after 3 s).

The purge runs only when the cron handler does (`app.run_cron()`), so each test sets up accounts
on both sides of the line, runs it once and checks who is gone and who is untouched.
"""
import time

from e2e_support import assert_json, assert_problem, assert_status, assert_user, new_password

UNVERIFIED_MAX_AGE_S = 3
PAST_DUE_S = 1.5  # whole-second timestamps: make "due" strictly in the past


def test_the_purge_removes_an_account_past_its_deletion_date_and_frees_its_address(purge_app):
    app = purge_app
    ((doomed_email, doomed_password, doomed), (active_email, active_password, _active),
     (resting_email, resting_password, resting)) = app.verified_users(3)
    assert_json(app.deactivate(resting["access_token"], resting_password), 200)
    assert_json(app.delete_me(doomed["access_token"], doomed_password), 202)
    time.sleep(PAST_DUE_S)

    app.run_cron()

    # the deleted account is gone: its password opens nothing and there is nothing to restore
    assert_problem(app.login(doomed_email, doomed_password), 401, "invalid_credentials")
    assert_problem(app.restore(doomed_email, doomed_password), 401, "invalid_credentials")
    # ... and its address registers as a new account, with a verification mail, not a notice
    verify_mails = app.count_mail(doomed_email, "Verify")
    notices = app.count_mail(doomed_email, "already")
    new_password_ = new_password()
    again = assert_json(app.register(doomed_email, new_password_), 201)
    assert_user(again["user"], email=doomed_email, status="pending_verification")
    token = app.token_from_mail(app.wait_for_mail(doomed_email, "Verify", count=verify_mails + 1))
    assert app.count_mail(doomed_email, "already") == notices
    verified = assert_json(app.verify_email(token), 200)
    assert verified["user"]["id"] != doomed["user"]["id"]
    relogin = assert_json(app.login(doomed_email, new_password_), 200)
    assert relogin["user"]["id"] == verified["user"]["id"]
    # accounts that were not due are untouched
    assert_json(app.login(active_email, active_password), 200)
    assert_problem(app.login(resting_email, resting_password), 403, "account_deactivated")


def test_the_purge_removes_unverified_accounts_past_the_maximum_age_only(purge_app):
    app = purge_app
    verified_email, verified_password, _verified = app.verified_user()
    old_email, old_password, _old = app.register_unverified()
    old_token = app.token_from_mail(app.wait_for_mail(old_email, "Verify"))
    time.sleep(UNVERIFIED_MAX_AGE_S + PAST_DUE_S)
    fresh_email, fresh_password, _fresh = app.register_unverified()

    app.run_cron()  # at once: the fresh account is well under the maximum age

    assert_problem(app.verify_email(old_token), 400)
    assert_problem(app.login(old_email, old_password), 401, "invalid_credentials")
    fresh_token = app.token_from_mail(app.wait_for_mail(fresh_email, "Verify"))
    assert_json(app.verify_email(fresh_token), 200)
    assert_json(app.login(fresh_email, fresh_password), 200)
    # a verified account older than the maximum age is no concern of this rule
    assert_json(app.login(verified_email, verified_password), 200)


def test_running_the_purge_twice_in_a_row_is_harmless(purge_app):
    app = purge_app
    email, password, _login = app.verified_user()

    first = app.run_cron()
    second = app.run_cron()

    assert_status(first, 200)
    assert_status(second, 200)
    assert_json(app.login(email, password), 200)
