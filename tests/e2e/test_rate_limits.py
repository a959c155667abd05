"""Rate limits (`rate_limited_app`): login 3 per 4 s per IP, register 2 per minute per IP (/64 for
IPv6), forgot and resend 2 per minute per e-mail; lockout at its default of 5 failures.

Every test picks its own client addresses, so buckets never overlap between tests.
"""
import secrets
import time

from e2e_support import (assert_json, assert_problem, assert_rate_limited, assert_status,
                         client_ip, from_ip, new_password, run_in_parallel, unique_email)

LOGIN_PER_IP = 3
FORGOT_PER_EMAIL = 2


def _two_ipv6_networks() -> tuple[str, str]:
    """Two neighbouring /64s under 2001:db8::/32 (documentation), each as its first four groups."""
    a, b = secrets.randbelow(1 << 16), secrets.randbelow((1 << 16) - 1)
    return f"2001:db8:{a:x}:{b:x}", f"2001:db8:{a:x}:{b + 1:x}"


def test_logins_beyond_the_per_ip_limit_are_refused_with_retry_after(rate_limited_app):
    app = rate_limited_app
    ip = client_ip()
    headers = {"CF-Connecting-IP": ip}

    # the burst at once, so that no slot refills meanwhile (one does every 4/3 s)
    within = run_in_parallel(lambda _i: app.login(unique_email(), new_password(), headers=headers),
                             LOGIN_PER_IP)
    beyond = app.login(unique_email(), new_password(), headers=headers)
    spoofed = app.login(unique_email(), new_password(),
                        headers={**headers, "X-Forwarded-For": client_ip()})
    elsewhere = app.login(unique_email(), new_password(),
                          headers=from_ip(**{"X-Forwarded-For": ip}))

    for resp in within:
        assert_problem(resp, 401, "invalid_credentials")
    retry_after = assert_rate_limited(beyond)
    assert_rate_limited(spoofed)  # X-Forwarded-For is never trusted
    assert_problem(elsewhere, 401, "invalid_credentials")
    time.sleep(retry_after)
    assert_problem(app.login(unique_email(), new_password(), headers=headers), 401, "invalid_credentials")


def test_a_rate_limited_login_is_not_counted_as_a_failure(rate_limited_app):
    app = rate_limited_app
    email, password, _login = app.verified_user()
    headers = {"CF-Connecting-IP": client_ip()}
    failed = run_in_parallel(lambda _i: app.login(email, new_password(), headers=headers), LOGIN_PER_IP)

    # five more wrong passwords at once: with the three above they would reach the lockout of 5
    limited = run_in_parallel(lambda _i: app.login(email, new_password(), headers=headers), 5)

    for resp in failed:
        assert_problem(resp, 401, "invalid_credentials")
    for resp in limited:
        assert_rate_limited(resp)
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
