"""Notification preferences: defaults, partial updates merged into the whole, reset, validation."""
import copy

import pytest

from e2e_support import assert_json, assert_problem

DEFAULTS = {
    "email": {"security_alerts": True, "product_updates": False, "weekly_digest": False},
    "push": {"tips_received": True, "job_updates": True},
}


def _preferences(app, login: dict) -> dict:
    return assert_json(app.notification_preferences(login["access_token"]), 200)["preferences"]


def test_a_new_user_has_the_default_preferences(app):
    _email, _password, login = app.create_verified_user()

    resp = app.notification_preferences(login["access_token"])

    assert assert_json(resp, 200) == {"preferences": DEFAULTS}


def test_a_partial_update_is_merged_into_the_preferences(app):
    _email, _password, login = app.create_verified_user()
    expected = copy.deepcopy(DEFAULTS)
    expected["email"]["weekly_digest"] = True

    first = app.patch_notification_preferences(login["access_token"], {"email": {"weekly_digest": True}})

    assert assert_json(first, 200) == {"preferences": expected}
    expected["push"]["job_updates"] = False
    second = app.patch_notification_preferences(login["access_token"], {"push": {"job_updates": False}})
    assert assert_json(second, 200) == {"preferences": expected}
    assert _preferences(app, login) == expected


def test_preferences_belong_to_one_user(app):
    _e1, _p1, mine = app.create_verified_user()
    _e2, _p2, theirs = app.create_verified_user()

    assert_json(app.patch_notification_preferences(mine["access_token"],
                                                   {"email": {"product_updates": True}}), 200)

    assert _preferences(app, theirs) == DEFAULTS


def test_deleting_the_preferences_restores_the_defaults(app):
    _email, _password, login = app.create_verified_user()
    assert_json(app.patch_notification_preferences(
        login["access_token"], {"email": {"security_alerts": False}, "push": {"tips_received": False}}), 200)

    resp = app.reset_notification_preferences(login["access_token"])

    assert assert_json(resp, 200) == {"preferences": DEFAULTS}
    assert _preferences(app, login) == DEFAULTS


@pytest.mark.parametrize("body", [
    {"sms": {"security_alerts": True}},
    {"email": {"newsletter": True}},
    {"email": {"weekly_digest": "yes"}},
    {"email": {"weekly_digest": 1}},
    {"email": {"weekly_digest": None}},
    {"push": True},
    ["email"],
], ids=["unknown channel", "unknown kind", "string value", "number value", "null value",
        "channel not an object", "array body"])
def test_invalid_preference_updates_are_refused_and_change_nothing(app, body):
    _email, _password, login = app.create_verified_user()
    assert_json(app.patch_notification_preferences(login["access_token"], {"push": {"job_updates": False}}), 200)
    before = _preferences(app, login)

    resp = app.patch_notification_preferences(login["access_token"], body)

    assert_problem(resp, 400, "invalid_request")
    assert _preferences(app, login) == before


@pytest.mark.parametrize("call", ["get", "patch", "delete"])
def test_preferences_without_a_token_are_refused(app, call):
    resp = {
        "get": lambda: app.notification_preferences(None),
        "patch": lambda: app.patch_notification_preferences(None, {"email": {"weekly_digest": True}}),
        "delete": lambda: app.reset_notification_preferences(None),
    }[call]()

    assert_problem(resp, 401, "invalid_token")
