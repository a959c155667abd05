"""The scheduled purge (`purge_app`: deletion due at once, unverified accounts expire after 3 s).

The purge runs only when the cron handler does (`app.run_cron()`), so each test sets up accounts
on both sides of the line, runs it once and checks who is gone and who is untouched.
"""
import hashlib
import time
import uuid

from e2e_support import assert_json, assert_problem, assert_status, assert_user, new_password
from realtime_support import Sockets, fund, live_stream, run, user_id_of

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


def pseudonym(user_id: str) -> str:
    """What a purged account's id becomes in the records that are kept."""
    return "deleted:" + hashlib.sha256(user_id.encode()).hexdigest()[:16]


def tip(app, sender: dict, stream: dict, amount: int, message: str | None = None) -> dict:
    body = {"amount": amount, **({"message": message} if message else {})}
    return assert_json(app.tip(sender["access_token"], stream["id"], body, str(uuid.uuid4())), 201)["tip"]


def chat_history(app, viewer: dict, stream: dict, say: str | None = None) -> list[dict]:
    """The room's history as `viewer` joins it; with `say`, after saying it (and seeing it back)."""
    async def scenario():
        async with Sockets(app) as sockets:
            socket, history = await sockets.chat(viewer["access_token"], stream["id"], "viewer")
            if say is not None:
                await socket.send({"type": "chat.send", "text": say})
                await socket.take("chat.message")
            return history

    return run(scenario())


def test_a_purged_account_leaves_no_personal_data_and_its_ledger_tips_and_chat_stay_under_a_pseudonym(purge_app):
    app = purge_app
    name = f"Doomed {uuid.uuid4().hex[:8]}"
    doomed_email, doomed_password, doomed = app.create_verified_user(name=name, device_name="doomed laptop")
    _partner_email, _partner_password, partner = app.create_verified_user(name="Partner")
    doomed_id, alias = doomed["user"]["id"], pseudonym(doomed["user"]["id"])
    fund(app, doomed, 10)
    fund(app, partner, 10)
    partners_stream, doomeds_stream = live_stream(app, partner, "Partner live"), live_stream(app, doomed, "Mine")
    sent = tip(app, doomed, partners_stream, 3, "from the doomed")
    received = tip(app, partner, doomeds_stream, 2)
    chat_history(app, doomed, partners_stream, say="hello from the doomed")
    partner_ledger = app.credit_ledger(partner["access_token"])
    assert_json(app.delete_me(doomed["access_token"], doomed_password), 202)
    time.sleep(PAST_DUE_S)

    app.run_cron()

    # nothing stored, in D1 or in any Durable Object, names the person any more
    left = app.stored_rows_containing(doomed_id, doomed_email, name, "doomed laptop")
    assert left == [], "\n".join(left)
    # the partner's view: the tips are there, the other side is the pseudonym
    tips_in = assert_json(app.tips(partner["access_token"], direction="received"), 200)["tips"]
    tips_out = assert_json(app.tips(partner["access_token"], direction="sent"), 200)["tips"]
    assert [(t["id"], t["from_user_id"], t["amount"], t["message"]) for t in tips_in] == \
        [(sent["id"], alias, 3, "from the doomed")]
    assert [(t["id"], t["to_user_id"]) for t in tips_out] == \
        [(received["id"], alias)]
    assert app.credit_ledger(partner["access_token"]) == partner_ledger
    # the doomed side of the books stays balanced under the pseudonym: 10 - 3 + 2
    assert app.d1_rows("SELECT SUM(amount) FROM ledger WHERE user_id = ?", (alias,)) == [(9,)]
    assert app.d1_rows("SELECT balance FROM balances WHERE user_id = ?", (alias,)) == [(9,)]
    # the chat keeps the message, by the pseudonym, without a name
    history = chat_history(app, partner, partners_stream)
    assert [(user_id_of(m["author"]), m["author"].get("name"), m["text"]) for m in history] == \
        [(alias, None, "hello from the doomed")]
