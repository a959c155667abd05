"""Rate limits (`rate_limited_app`): login 3 per 4 s per IP, register 2 per minute per IP (/64 and,
four times that, /48 for IPv6) and per e-mail, forgot and resend 2 per minute per e-mail, every
per-user write 2 per minute; lockout at its default of 5 failures.

Every test picks its own client addresses, so buckets never overlap between tests.
"""
import secrets
import sqlite3
import time
import uuid
from contextlib import closing

import pytest

from e2e_support import (assert_json, assert_not_rate_limited, assert_problem, assert_rate_limited,
                         assert_status, client_ip, from_ip, new_password, run_in_parallel, unique_email)

LOGIN_PER_IP = 3
FORGOT_PER_EMAIL = 2
REGISTER_PER_IP = 2
REGISTER_PER_EMAIL = 2
SLASH_48_FACTOR = 4
PER_USER_WRITES = 2


def _two_ipv6_networks() -> tuple[str, str]:
    """Two neighbouring /64s under 2001:db8::/32 (documentation), each as its first four groups."""
    a, b = secrets.randbelow(1 << 16), secrets.randbelow((1 << 16) - 1)
    return f"2001:db8:{a:x}:{b:x}", f"2001:db8:{a:x}:{b + 1:x}"


def test_logins_beyond_the_per_ip_limit_are_refused_with_retry_after(rate_limited_app):
    app = rate_limited_app
    ip = client_ip()
    headers = {"CF-Connecting-IP": ip}
    spoofing = {**headers, "X-Forwarded-For": client_ip()}

    # All at once, so that no slot refills meanwhile (one does every 4/3 s; one after another,
    # the burst's password hashes could take that long on a busy machine): the limit plus one,
    # plus one that names another client in X-Forwarded-For, which is never trusted.
    answers = run_in_parallel(lambda i: app.login(unique_email(), new_password(),
                                                  headers=spoofing if i == 0 else headers),
                              LOGIN_PER_IP + 2)
    elsewhere = app.login(unique_email(), new_password(), headers=from_ip(**{"X-Forwarded-For": ip}))

    refused = [resp for resp in answers if resp.status_code == 429]
    assert len(refused) == 2, [resp.status_code for resp in answers]
    for resp in answers:
        if resp.status_code != 429:
            assert_problem(resp, 401, "invalid_credentials")
    retry_after = max(assert_rate_limited(resp) for resp in refused)
    assert_problem(elsewhere, 401, "invalid_credentials")
    time.sleep(retry_after)
    assert_problem(app.login(unique_email(), new_password(), headers=headers), 401, "invalid_credentials")


def test_a_rate_limited_login_is_not_counted_as_a_failure(rate_limited_app):
    app = rate_limited_app
    email, password, _login = app.verified_user()
    headers = {"CF-Connecting-IP": client_ip()}
    # Eight wrong passwords at once (so that no slot refills meanwhile): the limit's three are
    # failures, and the five refused would, if counted, reach the lockout of 5.
    answers = run_in_parallel(lambda _i: app.login(email, new_password(), headers=headers), LOGIN_PER_IP + 5)

    statuses = sorted(resp.status_code for resp in answers)
    assert statuses == [401] * LOGIN_PER_IP + [429] * 5, statuses
    for resp in answers:
        if resp.status_code == 429:
            assert_rate_limited(resp)
        else:
            assert_problem(resp, 401, "invalid_credentials")
    assert_json(app.login(email, password, headers=from_ip()), 200)


def test_forgot_beyond_the_per_email_limit_is_refused_from_any_ip_and_sends_nothing(rate_limited_app):
    app = rate_limited_app
    (email, _password, _login), (sentinel, _p, _l) = app.verified_users(2)

    within = [app.forgot(email, headers=from_ip()) for _ in range(FORGOT_PER_EMAIL)]
    beyond = app.forgot(email, headers=from_ip())
    # mail is queued in order: once a later reset mail arrived, a third one would have too
    assert_status(app.forgot(sentinel), 202)

    for resp in within:
        assert_status(resp, 202)
    assert_rate_limited(beyond)
    app.wait_for_mail(sentinel, "Reset")
    app.wait_for_mail(email, "Reset", count=FORGOT_PER_EMAIL)
    app.mail_barrier()
    assert app.count_mail(email, "Reset") == FORGOT_PER_EMAIL


def test_ipv6_clients_share_a_bucket_per_slash_64(rate_limited_app):
    app = rate_limited_app
    net, neighbour = _two_ipv6_networks()
    first, same_net, other_net = f"{net}::1", f"{net}:ffff:ffff:ffff:fffe", f"{neighbour}::1"
    limited_email, other_email = unique_email(), unique_email()

    within = [app.register(unique_email(), new_password(), headers={"CF-Connecting-IP": first})
              for _ in range(2)]
    beyond = app.register(limited_email, new_password(), headers={"CF-Connecting-IP": same_net})
    elsewhere = app.register(other_email, new_password(), headers={"CF-Connecting-IP": other_net})

    for resp in within:
        assert_json(resp, 201)
    assert_rate_limited(beyond)
    assert_json(elsewhere, 201)
    # the refused registration did nothing: no account, so no mail
    app.wait_for_mail(other_email, "Verify")
    app.mail_barrier()
    assert app.messages(limited_email) == []


def test_ipv6_clients_are_also_limited_per_slash_48_at_four_times_the_slash_64_rule(rate_limited_app):
    app = rate_limited_app
    site, other_site = (f"2001:db8:{n:x}" for n in secrets.SystemRandom().sample(range(1 << 16), 2))
    # every /64 of the site within its own limit, together the whole /48 allowance
    within = [app.register(unique_email(), new_password(), headers={"CF-Connecting-IP": f"{site}:{net:x}::1"})
              for net in range(SLASH_48_FACTOR) for _ in range(REGISTER_PER_IP)]
    limited_email, other_email = unique_email(), unique_email()

    fresh_64 = app.register(limited_email, new_password(),
                            headers={"CF-Connecting-IP": f"{site}:{SLASH_48_FACTOR:x}::1"})
    other_48 = app.register(other_email, new_password(),
                            headers={"CF-Connecting-IP": f"{other_site}:{SLASH_48_FACTOR:x}::1"})

    for resp in within:
        assert_json(resp, 201)
    assert_rate_limited(fresh_64)
    assert_json(other_48, 201)
    app.wait_for_mail(other_email, "Verify")
    time.sleep(1)
    assert app.messages(limited_email) == []


def test_registering_one_address_again_and_again_mails_it_no_more_than_the_per_address_limit(rate_limited_app):
    app = rate_limited_app
    email = unique_email()

    within = [app.register(email, new_password(), headers=from_ip()) for _ in range(REGISTER_PER_EMAIL)]
    beyond = app.register(email, new_password(), headers=from_ip())

    for resp in within:
        assert_json(resp, 201)
    assert_rate_limited(beyond)
    app.wait_for_mail(email, count=REGISTER_PER_EMAIL)  # the link, then the already-registered notice
    time.sleep(1)
    assert len(app.messages(email)) == REGISTER_PER_EMAIL


WRONG_PASSWORD = "not-the-password-1"
# One authenticated write of each kind, as `write(app, access)`; whether it succeeds does not matter
# (a wrong password, an unknown stream), only that it is counted.
AUTHENTICATED_WRITES = {
    "ticket": lambda app, access: app.realtime_ticket(access),
    "stream": lambda app, access: app.create_stream(access, {"title": "Counted"}),
    "tip": lambda app, access: app.tip(access, str(uuid.uuid4()), {"amount": 1}, str(uuid.uuid4())),
    "job": lambda app, access: app.create_job(access, {"kind": "render_svg", "input": {"text": "Counted"}},
                                              str(uuid.uuid4())),
    "profile": lambda app, access: app.patch_me(access, {"name": "Counted"}, if_match=1_000_000),
    "preferences": lambda app, access: app.reset_notification_preferences(access),
    "password_change": lambda app, access: app.change_password(access, WRONG_PASSWORD, new_password()),
    "deactivate": lambda app, access: app.deactivate(access, WRONG_PASSWORD),
    "delete": lambda app, access: app.delete_me(access, WRONG_PASSWORD),
}


@pytest.mark.parametrize("write", AUTHENTICATED_WRITES)
def test_each_authenticated_write_is_limited_per_user_whatever_the_ip(rate_limited_app, write):
    app = rate_limited_app
    (_e, _p, login), (_e2, _p2, other) = app.verified_users(2)
    act = AUTHENTICATED_WRITES[write]

    # every request comes from another address (App.request), so only the user ties them
    within = [act(app, login["access_token"]) for _ in range(PER_USER_WRITES)]
    beyond = act(app, login["access_token"])
    someone_else = act(app, other["access_token"])

    for resp in within:
        assert_not_rate_limited(resp)
    assert_rate_limited(beyond)
    assert_not_rate_limited(someone_else)


def _rate_limiter_arrival_times(app) -> list[int]:
    """The arrival time (ms) kept by every RateLimiter object in the server's local storage."""
    times = []
    for path in app.state_dir.rglob("*.sqlite"):
        if "RateLimiter" not in str(path):
            continue
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
                times += [row[0] for row in db.execute("SELECT tat FROM bucket")]
        except sqlite3.Error:
            pass  # no table: the object deleted its storage
    return times


@pytest.fixture(scope="module")
def login_ip_limit_only_app(app_factory):
    """Login limited per IP at 3 per 4 s and by nothing else: its one limiter is the test's."""
    return app_factory(RATE_LIMIT_LOGIN_IP="3/4", RATE_LIMIT_LOGIN_EMAIL="off")


def test_a_rate_limiters_state_is_kept_a_period_past_its_arrival_time_then_deleted(
        login_ip_limit_only_app):
    app = login_ip_limit_only_app
    period_ms = 4000
    before = time.time() * 1000
    # 3 per 4 s: the bucket matters for 4/3 s, after which a fresh key answers the same; it is kept
    # one period longer, so a key used again soon is not deleted and made again, then deleted.
    assert_problem(app.login(unique_email(), new_password(), headers=from_ip()), 401, "invalid_credentials")
    kept = [t for t in _rate_limiter_arrival_times(app) if t > before]
    assert len(kept) == 1, kept
    tat = kept[0]

    time.sleep(max(0.0, (tat + period_ms / 2) / 1000 - time.time()))
    assert tat in _rate_limiter_arrival_times(app), "deleted before its period of grace was over"

    deadline = time.monotonic() + 20
    while tat in _rate_limiter_arrival_times(app):
        assert time.monotonic() < deadline, f"the limiter state outlived its key by {time.time() * 1000 - tat:.0f} ms"
        time.sleep(0.5)
    assert time.time() * 1000 >= tat + period_ms - 1000, "deleted before its period of grace was over"
