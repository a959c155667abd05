"""The scheduled maintenance on the shared server (default settings): it removes what is used up and
leaves everything still live alone. (The purge of accounts is test_cron_purge.py; stale jobs are
test_fault_kill_restart.py; key rotation is test_key_rotation.py.)

Realtime tickets live 30 s, so an expired one is not waited for here; a used one is enough to show
that the cleanup does not revive it.
"""
import uuid

from e2e_support import assert_json, assert_problem, assert_status, assert_user, new_password
from realtime_support import Sockets, fund, new_user, problem_code, refusal, run


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
