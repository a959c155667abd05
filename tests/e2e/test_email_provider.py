"""The HTTP e-mail provider, end to end against a local Resend-compatible fake (`fake_resend.py`):
a server of its own with EMAIL_PROVIDER=resend, three attempts per mail and a 1 s retry base
(delays 1 s, then 2 s). Every test writes to fresh addresses, which the fake answers as scripted.
"""
import re
import urllib.parse

import pytest

from conftest import TOKEN_IN_LINK
from e2e_support import assert_json, assert_status, new_password, unique_email
from fake_resend import FakeResend

API_KEY = "re_test_0123456789abcdef"
SENDER = "Edgeward <no-reply@edgeward.test>"
MAX_ATTEMPTS = 3
RETRY_BASE_S = 1
DEAD_LETTER_RETENTION_S = 30 * 86_400


@pytest.fixture(scope="module")
def resend():
    fake = FakeResend(API_KEY)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def resend_app(app_factory, resend):
    return app_factory(EMAIL_PROVIDER="resend", EMAIL_API_URL=resend.url, EMAIL_API_KEY=API_KEY,
                       EMAIL_FROM=SENDER, EMAIL_MAX_ATTEMPTS=MAX_ATTEMPTS,
                       EMAIL_RETRY_BASE_SECONDS=RETRY_BASE_S)


def token_in(text: str) -> str:
    match = TOKEN_IN_LINK.search(text)
    assert match, f"no ?token= link in {text!r}"
    return urllib.parse.unquote(match.group(1))


def dead_letters_to(app, email: str) -> list[tuple]:
    return app.d1_rows("SELECT queue, body, received_at FROM dead_letters WHERE body LIKE ?",
                       (f"%{email}%",))


def test_a_verification_mail_is_posted_to_the_provider_and_its_link_verifies(resend_app, resend):
    email, password = unique_email(), new_password()

    assert_json(resend_app.register(email, password), 201)

    (sent,) = resend.wait_for(email)
    assert sent.status == 200
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["content-type"].startswith("application/json")
    assert sent.headers.get("idempotency-key"), sent.headers
    assert sent.body["from"] == SENDER and sent.body["to"] == [email], sent.body
    assert "Verify" in sent.body["subject"]
    assert f"{resend_app.app_base_url}/verify-email?token=" in sent.body["text"]
    assert "href=" in sent.body["html"]
    assert_json(resend_app.verify_email(token_in(sent.text)), 200)
    assert_json(resend_app.login(email, password), 200)


def test_a_provider_5xx_is_retried_with_growing_delays_until_it_is_delivered(resend_app, resend):
    email = unique_email()
    resend.fail(email, [503, 502])

    assert_json(resend_app.register(email, new_password()), 201)

    attempts = resend.wait_for(email, count=1, status=200)
    assert [a.status for a in attempts] == [503, 502, 200], attempts
    assert len({a.headers["idempotency-key"] for a in attempts}) == 1, "one idempotency key per mail"
    first_gap, second_gap = (attempts[1].at - attempts[0].at, attempts[2].at - attempts[1].at)
    assert first_gap >= RETRY_BASE_S * 0.9, f"retried after {first_gap:.2f}s"
    assert second_gap >= 2 * RETRY_BASE_S * 0.9, f"second retry after {second_gap:.2f}s: no backoff"
    assert dead_letters_to(resend_app, email) == []
    assert_json(resend_app.verify_email(token_in(attempts[-1].text)), 200)


def test_a_mail_failing_every_attempt_is_dead_lettered_without_its_token(resend_app, resend):
    email = unique_email()
    resend.fail_always(email, 503)

    assert_json(resend_app.register(email, new_password()), 201)

    resend_app.wait_for_d1_rows("SELECT id FROM dead_letters WHERE body LIKE ?", (f"%{email}%",))
    attempts = resend.received(email)
    assert [a.status for a in attempts] == [503] * MAX_ATTEMPTS, attempts
    token = token_in(attempts[0].text)
    ((queue, body, _received_at),) = dead_letters_to(resend_app, email)
    assert queue == "edgeward-email"
    assert token not in body, f"the dead letter keeps the link token: {body}"
    assert re.search(r'"token":"\[redacted\]"', body), body
    # nothing retries it after that: a mail sent later is delivered, and no fourth attempt came
    sentinel = unique_email()
    assert_json(resend_app.register(sentinel, new_password()), 201)
    resend.wait_for(sentinel, status=200)
    assert len(resend.received(email)) == MAX_ATTEMPTS


def test_a_permanent_provider_refusal_is_dead_lettered_at_once(resend_app, resend):
    email = unique_email()
    resend.fail_always(email, 422)

    assert_json(resend_app.register(email, new_password()), 201)

    resend_app.wait_for_d1_rows("SELECT id FROM dead_letters WHERE body LIKE ?", (f"%{email}%",))
    assert [a.status for a in resend.received(email)] == [422]


def verified_user(app, resend) -> tuple[str, str]:
    email, password = unique_email(), new_password()
    assert_json(app.register(email, password), 201)
    (verify,) = resend.wait_for(email)
    assert_json(app.verify_email(token_in(verify.text)), 200)
    return email, password


def test_dead_letters_are_deleted_after_the_retention_period_only(resend_app, resend):
    # a verified account (an unverified one would itself be purged by a run days later)
    email, _password = verified_user(resend_app, resend)
    resend.fail_always(email, 422)
    assert_status(resend_app.forgot(email), 202)
    ((_queue, body, received_at),) = resend_app.wait_for_d1_rows(
        "SELECT queue, body, received_at FROM dead_letters WHERE body LIKE ?", (f"%{email}%",))
    reset_token = token_in(resend.received(email)[-1].text)
    assert reset_token not in body and '"kind":"password_reset"' in body, body

    resend_app.run_cron(at=received_at + DEAD_LETTER_RETENTION_S - 60)
    kept = dead_letters_to(resend_app, email)
    resend_app.run_cron(at=received_at + DEAD_LETTER_RETENTION_S + 60)
    gone = dead_letters_to(resend_app, email)

    assert len(kept) == 1, "deleted before the retention period was over"
    assert gone == [], "still there after the retention period"


def test_a_reset_mail_goes_out_through_the_provider_and_its_link_works(resend_app, resend):
    email, _password = verified_user(resend_app, resend)

    assert_status(resend_app.forgot(email), 202)

    sent = resend.wait_for(email, count=2)
    assert "reset" in sent[-1].body["subject"].lower(), sent[-1].body
    new = new_password()
    assert_status(resend_app.reset(token_in(sent[-1].text), new), 204)
    assert_json(resend_app.login(email, new), 200)
