"""Editing the profile with PATCH /v1/me, guarded by the user's version (optimistic concurrency)."""
from e2e_support import (PROFILE_FIELDS, assert_json, assert_problem, assert_user, new_password,
                         run_in_parallel, unique_email)

PARALLEL_EDITS = 10
AVATAR = "https://cdn.example.test/avatars/ada.png"


def _me(app, login: dict) -> dict:
    return assert_json(app.me(login["access_token"]), 200)


def test_a_new_user_has_no_locale_timezone_or_avatar(app):
    email = unique_email()

    registered = assert_json(app.register(email, new_password()), 201)

    for field in PROFILE_FIELDS:
        assert field in registered["user"] and registered["user"][field] is None, registered["user"]


def test_patching_the_profile_with_if_match_updates_it_and_bumps_the_version(app):
    _email, _password, login = app.verified_user()
    version = _me(app, login)["version"]
    changes = {"name": "Ada Lovelace", "locale": "pt-BR", "timezone": "Europe/Paris",
               "avatar_url": AVATAR}

    resp = app.patch_me(login["access_token"], changes, if_match=version)

    user = assert_json(resp, 200)
    assert_user(user, status="active")
    assert user["version"] == version + 1
    assert {k: user[k] for k in changes} == changes
    me = _me(app, login)
    assert {k: me[k] for k in changes} == changes
    assert me["version"] == version + 1


def test_the_version_may_be_quoted_or_given_in_the_body(app):
    _email, _password, login = app.verified_user()
    version = _me(app, login)["version"]

    quoted = app.patch_me(login["access_token"], {"locale": "en"}, if_match=f'"{version}"')
    in_body = app.patch_me(login["access_token"], {"locale": "pt-BR", "version": version + 1})

    assert assert_json(quoted, 200)["version"] == version + 1
    user = assert_json(in_body, 200)
    assert (user["locale"], user["version"]) == ("pt-BR", version + 2)


def test_null_clears_a_field_and_leaves_the_others(app):
    _email, _password, login = app.verified_user()
    version = _me(app, login)["version"]
    assert_json(app.patch_me(login["access_token"], {"name": "Grace", "timezone": "America/Sao_Paulo",
                                                     "avatar_url": AVATAR}, if_match=version), 200)

    resp = app.patch_me(login["access_token"], {"avatar_url": None}, if_match=version + 1)

    user = assert_json(resp, 200)
    assert user["avatar_url"] is None
    assert (user["timezone"], user["name"], user["version"]) == ("America/Sao_Paulo", "Grace", version + 2)


def test_a_stale_version_is_a_conflict_and_changes_nothing(app):
    _email, _password, login = app.verified_user()
    version = _me(app, login)["version"]
    first = app.patch_me(login["access_token"], {"name": "Before", "locale": "en"}, if_match=version)
    assert_json(first, 200)

    stale_header = app.patch_me(login["access_token"], {"name": "After"}, if_match=version)
    stale_body = app.patch_me(login["access_token"], {"name": "After", "version": version})

    assert_problem(stale_header, 409, "version_conflict")
    assert_problem(stale_body, 409, "version_conflict")
    me = _me(app, login)
    assert (me["name"], me["locale"], me["version"]) == ("Before", "en", version + 1)


def test_a_patch_without_a_version_requires_a_precondition(app):
    _email, _password, login = app.verified_user()
    before = _me(app, login)

    resp = app.patch_me(login["access_token"], {"name": "After"})

    assert_problem(resp, 428, "precondition_required")
    assert _me(app, login) == before


INVALID_CHANGES = {
    "locale with spaces": {"locale": "not a locale!"},
    "numeric locale": {"locale": 42},
    "timezone with spaces": {"timezone": "not a timezone"},
    "unknown timezone area": {"timezone": "Mars/Olympus_Mons"},
    "unknown timezone city": {"timezone": "Europe/Nowhere"},
    "http avatar": {"avatar_url": "http://cdn.example.test/avatar.png"},
    "javascript avatar": {"avatar_url": "javascript:alert(1)"},
    "avatar not a url": {"avatar_url": "not a url"},
    "avatar over 2048 characters": {"avatar_url": "https://cdn.example.test/" + "a" * 2030},
    "numeric name": {"name": 42},
    "unknown field": {"favourite_colour": "teal"},
}


def test_invalid_profile_values_are_refused_and_change_nothing(app):
    # One user for every case (each would otherwise wait for its own verification mail).
    _email, _password, login = app.verified_user()
    before = _me(app, login)

    answers = {}
    for case, changes in INVALID_CHANGES.items():
        version = _me(app, login)["version"]  # current even if an earlier case was wrongly accepted
        answers[case] = app.patch_me(login["access_token"], changes, if_match=version)

    wrong = {}
    for case, resp in answers.items():
        try:
            assert_problem(resp, 400, "invalid_request")
        except AssertionError as exc:
            wrong[case] = str(exc).splitlines()[0]
    assert not wrong, "accepted or refused wrongly:\n" + "\n".join(f"{k}: {v}" for k, v in wrong.items())
    assert _me(app, login) == before


def test_an_avatar_url_of_exactly_2048_characters_is_accepted(app):
    _email, _password, login = app.verified_user()
    version = _me(app, login)["version"]
    base = "https://cdn.example.test/"
    url = base + "a" * (2048 - len(base))

    resp = app.patch_me(login["access_token"], {"avatar_url": url}, if_match=version)

    assert assert_json(resp, 200)["avatar_url"] == url


def test_patching_the_profile_without_a_token_is_refused(app):
    resp = app.patch_me(None, {"name": "Nobody"}, if_match=1)

    assert_problem(resp, 401, "invalid_token")


def test_of_ten_parallel_patches_with_one_version_exactly_one_wins(app):
    _email, _password, login = app.verified_user()
    version = _me(app, login)["version"]
    names = [f"Contender {i}" for i in range(PARALLEL_EDITS)]

    responses = run_in_parallel(
        lambda i: app.patch_me(login["access_token"], {"name": names[i]}, if_match=version),
        PARALLEL_EDITS)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (PARALLEL_EDITS - 1), \
        [(r.status_code, r.text[:200]) for r in responses]
    for resp in responses:
        if resp.status_code == 409:
            assert_problem(resp, 409, "version_conflict")
    (winner,) = [names[i] for i, r in enumerate(responses) if r.status_code == 200]
    me = _me(app, login)
    assert (me["name"], me["version"]) == (winner, version + 1)
