"""A problem's `detail` never echoes client input: whatever a client sends (keys, values, query
parameters, headers), the error it gets back says what was expected in our own words."""
import pytest

from e2e_support import assert_problem

# Recognisable in any echo: markup a page might render, and a number nobody would write.
MARKER = "<b>echo-7731</b>"


def _assert_no_echo(resp, status: int) -> None:
    body = assert_problem(resp, status, "invalid_request")
    assert "echo-7731" not in resp.text, f"the problem echoes the input: {body}"
    assert "7731" not in body["detail"], body


BODIES = {
    "an unknown key": ("/v1/auth/login", {"email": "a@example.test", "password": "x" * 10, MARKER: 1}),
    "a string where a number belongs": ("/v1/dev/credits", {"amount": MARKER}),
    "a number where a string belongs": ("/v1/auth/login", {"email": 7731, "password": "x" * 10}),
    "an object where a string belongs": ("/v1/auth/refresh", {"refresh_token": {MARKER: MARKER}}),
    "a negative number where an unsigned one belongs": ("/v1/auth/register",
                                                         {"email": "a@example.test", "password": -7731}),
    "an invalid e-mail address": ("/v1/auth/register", {"email": f"{MARKER}@", "password": "x" * 12}),
    "an invalid token": ("/v1/auth/verify-email", {"token": MARKER}),
}


@pytest.mark.parametrize("case", list(BODIES))
def test_a_rejected_body_is_described_without_echoing_it(app, case):
    path, body = BODIES[case]
    _email, _password, login = app.verified_user()

    resp = app.post(path, body, access=login["access_token"])

    _assert_no_echo(resp, 400)


@pytest.mark.parametrize("params", [{"limit": MARKER}, {"cursor": MARKER}, {"status": MARKER}],
                         ids=["limit", "cursor", "status"])
def test_a_rejected_query_parameter_is_described_without_echoing_it(app, params):
    _email, _password, login = app.verified_user()

    resp = app.get("/v1/jobs", access=login["access_token"], params=params)

    _assert_no_echo(resp, 400)


def test_a_rejected_preference_update_is_described_without_echoing_it(app):
    _email, _password, login = app.verified_user()

    resp = app.patch_notification_preferences(login["access_token"], {"email": {MARKER: True}})

    _assert_no_echo(resp, 400)


@pytest.mark.parametrize("header", ["If-Match", "Idempotency-Key"])
def test_a_rejected_header_is_described_without_echoing_it(app, header):
    _email, _password, login = app.verified_user()
    value = MARKER + "\u00e9" * 300  # not a version, and not 1-255 visible ASCII characters

    if header == "If-Match":
        resp = app.patch_me(login["access_token"], {"name": "Ada"}, if_match=value.encode("utf-8").decode("latin-1"))
    else:
        resp = app.create_job(login["access_token"], {"kind": "render_svg", "input": {"text": "x"}},
                              value.encode("utf-8").decode("latin-1"))

    _assert_no_echo(resp, 400)
