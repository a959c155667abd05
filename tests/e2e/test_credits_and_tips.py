"""Credits and tips over HTTP: the ledger adds up, tips never overdraw, Idempotency-Key replays."""
import uuid

from e2e_support import assert_json, assert_problem, assert_uuid, parse_utc, run_in_parallel
from realtime_support import (CREDIT_ENTRY_FIELDS, CREDIT_KINDS, TIP_FIELDS, fund, live_stream,
                              new_user, new_users)


def key() -> str:
    return str(uuid.uuid4())


def ledger(app, user: dict, limit: int = 3) -> tuple[int, list[dict]]:
    """(balance, all entries) of `user`, checking that the entries add up to the balance."""
    balance, entries = app.credit_ledger(user["access_token"], limit=limit)
    for e in entries:
        assert CREDIT_ENTRY_FIELDS <= set(e), f"entry lacks {CREDIT_ENTRY_FIELDS - set(e)}: {e}"
        assert e["kind"] in CREDIT_KINDS, e
        assert isinstance(e["amount"], int), e
        parse_utc(e["created_at"])
    assert len({e["id"] for e in entries}) == len(entries), "an entry on two pages"
    assert sum(e["amount"] for e in entries) == balance, (balance, entries)
    return balance, entries


def assert_tip(tip: dict, *, stream: dict, sender: dict, amount: int, message=None) -> None:
    assert TIP_FIELDS <= set(tip), f"tip lacks {TIP_FIELDS - set(tip)}"
    assert_uuid(tip["id"])
    assert (tip["stream_id"], tip["from_user_id"], tip["to_user_id"], tip["amount"], tip["message"]) == \
        (stream["id"], sender["user"]["id"], stream["owner_id"], amount, message)
    parse_utc(tip["created_at"])


def test_dev_grants_add_to_the_balance_and_replay_by_idempotency_key(app):
    user = new_user(app, "Grantee")
    token = user["access_token"]
    assert assert_json(app.credits(token), 200)["balance"] == 0

    first = assert_json(app.grant_credits(token, 7, idempotency_key="grant-1"), 201)
    assert first == {**first, "balance": 7, "granted": 7}
    replay = app.grant_credits(token, 7, idempotency_key="grant-1")
    assert assert_json(replay, 201) == first
    assert assert_json(app.grant_credits(token, 3), 201)["balance"] == 10
    for amount in (0, -1, 1_000_001, 1.5, "5", None):
        assert_problem(app.grant_credits(token, amount), 400)
    assert_json(app.grant_credits(token, 1_000_000), 201)

    balance, entries = ledger(app, user)
    assert balance == 1_000_010
    assert sorted(e["amount"] for e in entries) == [3, 7, 1_000_000]
    assert {e["kind"] for e in entries} == {"grant"}
    assert_problem(app.credits(None), 401)


def test_parallel_tips_never_spend_more_than_the_balance(app):
    owner, viewer = new_users(app, "Owner", "Viewer")
    stream = live_stream(app, owner)
    fund(app, viewer, 5)

    responses = run_in_parallel(
        lambda i: app.tip(viewer["access_token"], stream["id"], {"amount": 1}, idempotency_key=key()), 20)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 5 + [402] * 15, statuses
    for r in responses:
        if r.status_code == 402:
            assert_problem(r, 402, "insufficient_credits")
        else:
            assert_tip(r.json()["tip"], stream=stream, sender=viewer, amount=1)
    assert all(0 <= r.json()["balance"] <= 4 for r in responses if r.status_code == 201)

    viewer_balance, viewer_entries = ledger(app, viewer)
    owner_balance, owner_entries = ledger(app, owner)
    assert (viewer_balance, owner_balance) == (0, 5)
    assert sorted((e["kind"], e["amount"]) for e in viewer_entries) == [("grant", 5)] + [("tip_sent", -1)] * 5
    assert [(e["kind"], e["amount"]) for e in owner_entries] == [("tip_received", 1)] * 5

    sent = assert_json(app.tips(viewer["access_token"], direction="sent"), 200)["tips"]
    received = assert_json(app.tips(owner["access_token"], direction="received"), 200)["tips"]
    tip_ids = {r.json()["tip"]["id"] for r in responses if r.status_code == 201}
    assert {t["id"] for t in sent} == tip_ids
    assert {t["id"] for t in received} == tip_ids
    assert assert_json(app.tips(viewer["access_token"], direction="received"), 200)["tips"] == []


def test_a_replayed_tip_key_answers_the_first_response_and_moves_nothing(app):
    owner, viewer, other = new_users(app, "Owner", "Viewer", "Other")
    stream = live_stream(app, owner)
    fund(app, viewer, 10)
    fund(app, other, 5)
    shared_key = key()

    first = app.tip(viewer["access_token"], stream["id"], {"amount": 3, "message": "gg"}, shared_key)
    body = assert_json(first, 201)
    assert_tip(body["tip"], stream=stream, sender=viewer, amount=3, message="gg")
    assert body["balance"] == 7

    replay = app.tip(viewer["access_token"], stream["id"], {"amount": 3, "message": "gg"}, shared_key)
    assert replay.status_code == 201 and replay.json() == body, replay.text
    assert_problem(app.tip(viewer["access_token"], stream["id"], {"amount": 4, "message": "gg"}, shared_key),
                   422, "idempotency_key_mismatch")
    assert (app.balance(viewer["access_token"]), app.balance(owner["access_token"])) == (7, 3)

    # Keys belong to their user: someone else's identical key is a new tip.
    resp = app.tip(other["access_token"], stream["id"], {"amount": 3, "message": "gg"}, shared_key)
    theirs = assert_json(resp, 201)
    assert theirs["tip"]["id"] != body["tip"]["id"]
    assert_tip(theirs["tip"], stream=stream, sender=other, amount=3, message="gg")
    assert theirs["balance"] == 2
    assert (app.balance(viewer["access_token"]), app.balance(owner["access_token"])) == (7, 6)

    # Ten at once with one key and one body: one tip, ten identical answers.
    racing_key = key()
    responses = run_in_parallel(
        lambda i: app.tip(viewer["access_token"], stream["id"], {"amount": 2}, racing_key), 10)
    assert [r.status_code for r in responses] == [201] * 10, \
        [(r.status_code, r.text[:200]) for r in responses]
    bodies = [r.json() for r in responses]
    assert all(b == bodies[0] for b in bodies), bodies
    assert bodies[0]["balance"] == 5
    viewer_balance, viewer_entries = ledger(app, viewer)
    owner_balance, _ = ledger(app, owner)
    assert (viewer_balance, owner_balance) == (5, 8)
    assert sorted(e["amount"] for e in viewer_entries if e["kind"] == "tip_sent") == [-3, -2]


def test_bad_tips_are_refused_and_move_nothing(app):
    owner, viewer = new_users(app, "Owner", "Viewer")
    stream = live_stream(app, owner)
    fund(app, viewer, 5)
    token = viewer["access_token"]

    for amount in (0, -1, 1.5, "5", None):
        assert_problem(app.tip(token, stream["id"], {"amount": amount}, key()), 400)
    assert_problem(app.tip(token, stream["id"], {}, key()), 400)
    assert_problem(app.tip(token, stream["id"], {"amount": 1}, idempotency_key=None), 400)
    assert_problem(app.tip(token, str(uuid.uuid4()), {"amount": 1}, key()), 404)
    fund(app, owner, 5)
    assert_problem(app.tip(owner["access_token"], stream["id"], {"amount": 1}, key()), 400)  # own stream
    assert_problem(app.tip(token, stream["id"], {"amount": 6}, key()), 402, "insufficient_credits")
    assert_problem(app.tip(None, stream["id"], {"amount": 1}, key()), 401)

    viewer_balance, viewer_entries = ledger(app, viewer)
    owner_balance, owner_entries = ledger(app, owner)
    assert (viewer_balance, owner_balance) == (5, 5)
    assert [e["kind"] for e in viewer_entries + owner_entries] == ["grant", "grant"]
    assert assert_json(app.tips(token, direction="sent"), 200)["tips"] == []
