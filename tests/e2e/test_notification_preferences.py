"""Notification preferences: defaults, partial updates merged into the whole, reset, validation."""
import copy

import pytest

from e2e_support import assert_json, assert_problem, assert_status, new_password

DEFAULTS = {
    "email": {"security_alerts": True, "product_updates": False, "weekly_digest": False},
    "push": {"tips_received": True, "job_updates": True},
}


def _preferences(app, login: dict) -> dict:
    return assert_json(app.notification_preferences(login["access_token"]), 200)["preferences"]


def test_a_new_user_has_the_default_preferences(app):
    _email, _password, login = app.verified_user()

    resp = app.notification_preferences(login["access_token"])

    assert assert_json(resp, 200) == {"preferences": DEFAULTS}


def test_a_partial_update_is_merged_into_the_preferences(app):
    _email, _password, login = app.verified_user()
    expected = copy.deepcopy(DEFAULTS)
    expected["email"]["weekly_digest"] = True

    first = app.patch_notification_preferences(login["access_token"], {"email": {"weekly_digest": True}})

    assert assert_json(first, 200) == {"preferences": expected}
    expected["push"]["job_updates"] = False
    second = app.patch_notification_preferences(login["access_token"], {"push": {"job_updates": False}})
    assert assert_json(second, 200) == {"preferences": expected}
    assert _preferences(app, login) == expected


def test_preferences_belong_to_one_user(app):
    (_e1, _p1, mine), (_e2, _p2, theirs) = app.verified_users(2)

    assert_json(app.patch_notification_preferences(mine["access_token"],
                                                   {"email": {"product_updates": True}}), 200)

    assert _preferences(app, theirs) == DEFAULTS


def test_deleting_the_preferences_restores_the_defaults(app):
    _email, _password, login = app.verified_user()
    assert_json(app.patch_notification_preferences(
        login["access_token"], {"email": {"security_alerts": False}, "push": {"tips_received": False}}), 200)

    resp = app.reset_notification_preferences(login["access_token"])

    assert assert_json(resp, 200) == {"preferences": DEFAULTS}
    assert _preferences(app, login) == DEFAULTS


INVALID_UPDATES = {
    "unknown channel": {"sms": {"security_alerts": True}},
    "unknown kind": {"email": {"newsletter": True}},
    "string value": {"email": {"weekly_digest": "yes"}},
    "number value": {"email": {"weekly_digest": 1}},
    "null value": {"email": {"weekly_digest": None}},
    "channel not an object": {"push": True},
    "array body": ["email"],
}


def test_invalid_preference_updates_are_refused_and_change_nothing(app):
    # One user for every case (each would otherwise wait for its own verification mail).
    _email, _password, login = app.verified_user()
    changed = app.patch_notification_preferences(login["access_token"], {"push": {"job_updates": False}})
    assert_json(changed, 200)
    before = _preferences(app, login)

    answers = {case: app.patch_notification_preferences(login["access_token"], body)
               for case, body in INVALID_UPDATES.items()}

    wrong = {}
    for case, resp in answers.items():
        try:
            assert_problem(resp, 400, "invalid_request")
        except AssertionError as exc:
            wrong[case] = str(exc).splitlines()[0]
    assert not wrong, "accepted or refused wrongly:\n" + "\n".join(f"{k}: {v}" for k, v in wrong.items())
    assert _preferences(app, login) == before


@pytest.mark.parametrize("call", ["get", "patch", "delete"])
def test_preferences_without_a_token_are_refused(app, call):
    resp = {
        "get": lambda: app.notification_preferences(None),
        "patch": lambda: app.patch_notification_preferences(None, {"email": {"weekly_digest": True}}),
        "delete": lambda: app.reset_notification_preferences(None),
    }[call]()

    assert_problem(resp, 401, "invalid_token")


# ---------------------------------------------------------------- which mails follow them
# The deactivation notice is an optional alert (`email.security_alerts`); verification, reset and
# password-changed mails are security mails and go out whatever the preferences say. Mail is
# queued in order, so once a mail requested later has arrived, an earlier one would have too.

ALL_EMAIL_OFF = {"email": {"security_alerts": False, "product_updates": False, "weekly_digest": False}}


def test_an_optional_alert_reaches_a_user_with_the_default_preferences(app):
    email, password, login = app.verified_user()

    assert_json(app.deactivate(login["access_token"], password), 200)

    mail = app.wait_for_mail(email, "deactivated")
    assert "reactivate" in mail["text"]


def test_an_optional_alert_is_not_sent_to_a_user_who_switched_it_off(app):
    email, password, login = app.verified_user()
    assert_json(app.patch_notification_preferences(login["access_token"], ALL_EMAIL_OFF), 200)

    assert_json(app.deactivate(login["access_token"], password), 200)

    assert_status(app.forgot(email), 202)  # a security mail, queued after the alert
    app.wait_for_mail(email, "reset")
    assert app.count_mail(email, "deactivated") == 0


def test_security_mails_go_out_with_every_optional_mail_switched_off(app):
    email, password, login = app.verified_user()
    assert_json(app.patch_notification_preferences(login["access_token"], ALL_EMAIL_OFF), 200)
    changed = new_password()

    assert_status(app.change_password(login["access_token"], password, changed), 204)
    assert_status(app.forgot(email), 202)

    app.wait_for_mail(email, "password was changed")
    token = app.token_from_mail(app.wait_for_mail(email, "reset"))
    assert_status(app.reset(token, new_password()), 204)
