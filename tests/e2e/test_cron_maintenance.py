"""The scheduled maintenance: it removes what is used up or expired and leaves everything still live
alone. (The purge of accounts is test_cron_purge.py; stale jobs are test_fault_kill_restart.py; key
rotation is test_key_rotation.py; dead letters are test_email_provider.py.)

Rows expire after hours to days, which no test waits for: the second test runs the maintenance as
of a later day (the scheduled event's time, which the cron runs as of), on `purge_app` rather than
the shared server, and reads the local D1 database to see which rows are gone.
"""
import time
import uuid

from e2e_support import assert_json, assert_problem, assert_status, assert_user, new_password
from realtime_support import Sockets, fund, problem_code, refusal, run

DAY_S = 86_400


def test_cron_cleans_what_is_used_up_and_leaves_everything_live_alone(app):
    email, password, login = app.create_verified_user(name="Live")
    access = login["access_token"]
    fund(app, login, 2)
    # a job and its Idempotency-Key, both recent
    key, body = str(uuid.uuid4()), {"kind": "render_svg", "input": {"text": "Kept"}}
    job = assert_json(app.create_job(access, body, key), 202)
    job = app.wait_for_job(access, job["id"])
    assert job["status"] == "succeeded", job
    # a used ticket and an unused one
    used_ticket, fresh_ticket = app.new_ticket(access), app.new_ticket(access)

    async def use(ticket):
        async with Sockets(app) as sockets:
            socket = await sockets.open(app.ws_url("/v1/realtime/me", ticket), "first use")
            await socket.ws.close()

    run(use(used_ticket))
    # an unverified account whose verification link is unused, and a pending password reset
    pending_email, pending_password, _pending = app.register_unverified()
    verify_token = app.token_from_mail(app.wait_for_mail(pending_email, "Verify"))
    reset_email, _reset_password, _reset_login = app.create_verified_user(name="Forgetful")
    assert_status(app.forgot(reset_email), 202)
    reset_token = app.token_from_mail(app.wait_for_mail(reset_email, "reset"))
    # a deactivated account
    resting_email, resting_password, resting = app.create_verified_user(name="Resting")
    assert_json(app.deactivate(resting["access_token"], resting_password), 200)
    balance_before = app.credit_ledger(access)

    app.run_cron()
    app.run_cron()  # twice in a row is harmless

    # the used ticket stays refused; the unused one still opens the channel
    async def after():
        async with Sockets(app) as sockets:
            refused = await refusal(app.ws_url("/v1/realtime/me", used_ticket))
            assert refused.status_code == 401 and problem_code(refused) == "invalid_ticket", refused.body
            socket = await sockets.open(app.ws_url("/v1/realtime/me", fresh_ticket), "unused ticket")
            await socket.ws.close()

    run(after())
    # the live session and its refresh token work; the account is untouched
    me = assert_json(app.me(access), 200)
    assert_user(me.get("user", me), email=email, status="active", email_verified=True)
    sessions = assert_json(app.sessions(access), 200)
    assert login["session_id"] in {s["id"] for s in sessions["sessions"]}, sessions
    assert_json(app.refresh(login["refresh_token"]), 200)
    assert_json(app.login(email, password), 200)
    # the job, its key and the ledger are as they were
    assert assert_json(app.job(access, job["id"]), 200) == job
    replay = assert_json(app.create_job(access, body, key), 200)
    assert replay["id"] == job["id"]
    assert app.credit_ledger(access) == balance_before
    # unused e-mail tokens still work
    assert_json(app.verify_email(verify_token), 200)
    assert_json(app.login(pending_email, pending_password), 200)
    assert_status(app.reset(reset_token, new_password()), 204)
    # the deactivated account is still deactivated, not purged
    assert_problem(app.login(resting_email, resting_password), 403, "account_deactivated")


def test_cron_removes_expired_and_used_up_rows_once_they_are_old_enough_and_keeps_the_rest(purge_app):
    app = purge_app
    email, password, login = app.create_verified_user(name="Aging")
    user_id, access = login["user"]["id"], login["access_token"]
    assert_json(app.grant_credits(access, 3, str(uuid.uuid4())), 201)  # an idempotency key
    app.new_ticket(access)  # a realtime ticket, never used
    ended = assert_json(app.login(email, password), 200)
    assert_status(app.logout(ended["access_token"]), 204)  # a revoked session
    assert_status(app.forgot(email), 202)  # an unused reset token, its mail and its delivery count
    app.wait_for_mail(email, "reset")
    mail_ids = [r[0] for r in app.d1_rows("SELECT id FROM dev_mailbox WHERE to_email = ?", (email,))]
    counts = {
        "tickets": ("SELECT COUNT(*) FROM realtime_tickets WHERE user_id = ?", (user_id,)),
        "e-mail tokens": ("SELECT COUNT(*) FROM email_tokens WHERE user_id = ?", (user_id,)),
        "ended sessions": ("SELECT COUNT(*) FROM sessions WHERE id = ?", (ended["session_id"],)),
        "idempotency keys": ("SELECT COUNT(*) FROM idempotency_keys WHERE user_id = ?", (user_id,)),
        "dev mail": ("SELECT COUNT(*) FROM dev_mailbox WHERE to_email = ?", (email,)),
        "queue deliveries": (f"SELECT COUNT(*) FROM queue_deliveries WHERE id IN ({','.join('?' * len(mail_ids))})",
                             tuple(mail_ids)),
    }
    kept = {
        "the account": ("SELECT COUNT(*) FROM users WHERE id = ?", (user_id,)),
        "the live session": ("SELECT COUNT(*) FROM sessions WHERE id = ?", (login["session_id"],)),
        "audit events": ("SELECT COUNT(*) FROM audit_events WHERE user_id = ?", (user_id,)),
        "ledger": ("SELECT COUNT(*) FROM ledger WHERE user_id = ?", (user_id,)),
    }

    def count(queries):
        return {name: app.d1_rows(sql, params)[0][0] for name, (sql, params) in queries.items()}

    before, kept_before = count(counts), count(kept)
    assert all(n > 0 for n in before.values()), f"nothing to remove in the first place: {before}"
    assert all(n > 0 for n in kept_before.values()), kept_before

    app.run_cron(at=time.time() + 8 * DAY_S)  # past every cutoff but the audit retention

    assert count(counts) == {name: 0 for name in counts}, f"left behind (before: {before})"
    assert count(kept) == kept_before
    assert_json(app.me(access), 200)
