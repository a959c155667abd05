"""Per-user caps and the password-hashing gate (`capped_app`: caps of 2, one password operation
at a time with 4 more waiting). Users are made one at a time here, so that making them never meets
the gate.
"""
import asyncio
import re
import time
import uuid

from websockets.exceptions import InvalidStatus

from e2e_support import assert_json, assert_problem, assert_rate_limited, run_in_parallel
from realtime_support import Sockets, fund, live_stream, new_user, problem_code, refusal, run

CAP = 2
HASH_QUEUE = 4


def test_open_tickets_are_capped_per_user_even_when_asked_for_at_once(capped_app):
    app = capped_app
    user, other = new_user(app, "Holder"), new_user(app, "Other")

    results = run_in_parallel(lambda _i: app.realtime_ticket(user["access_token"]), 6)

    issued = [r for r in results if r.status_code == 201]
    assert len(issued) == CAP, [r.status_code for r in results]
    for resp in results:
        if resp.status_code != 201:
            assert_rate_limited(resp)
    assert_json(app.realtime_ticket(other["access_token"]), 201)


def test_live_streams_are_capped_per_user_until_one_ends(capped_app):
    app = capped_app
    owner = new_user(app, "Streamer")

    results = run_in_parallel(lambda i: app.create_stream(owner["access_token"], {"title": f"Live {i}"}), 4)

    created = [r.json() for r in results if r.status_code == 201]
    assert len(created) == CAP, [r.status_code for r in results]
    for resp in results:
        if resp.status_code != 201:
            assert_problem(resp, 409, "too_many_live_streams")
    assert_json(app.end_stream(owner["access_token"], created[0]["id"]), 200)
    assert_json(app.create_stream(owner["access_token"], {"title": "Again"}), 201)


def test_unfinished_jobs_are_capped_per_user_but_a_replayed_key_still_answers(capped_app):
    app = capped_app
    user = new_user(app, "Busy")
    fund(app, user, 10)
    # dev_fail jobs that fail every attempt stay queued between retries (5 s, then 10 s)
    body = {"kind": "dev_fail", "input": {"fail_attempts": 10}}
    keys = [str(uuid.uuid4()) for _ in range(CAP)]
    first = [app.create_job(user["access_token"], body, key) for key in keys]

    beyond = app.create_job(user["access_token"], body, str(uuid.uuid4()))
    replay = app.create_job(user["access_token"], body, keys[0])

    for resp in first:
        assert_json(resp, 202)
    assert_rate_limited(beyond)
    assert assert_json(replay, 200)["id"] == first[0].json()["id"]


def test_password_operations_beyond_the_isolates_gate_wait_in_its_queue_and_the_rest_get_503(capped_app):
    app = capped_app
    email, password, _login = app.create_verified_user()

    results = run_in_parallel(lambda _i: app.login(email, password), 12)

    statuses = [r.status_code for r in results]
    shed = [r for r in results if r.status_code == 503]
    assert shed, f"no login was shed: {statuses}"
    assert statuses.count(200) >= 1 + HASH_QUEUE, f"the queued logins did not wait their turn: {statuses}"
    for resp in results:
        if resp.status_code == 503:
            assert_problem(resp, 503, "overloaded")
            assert re.fullmatch(r"[1-9][0-9]*", resp.headers.get("Retry-After", "")), resp.headers
        else:
            assert_json(resp, 200)
    # the gate gives its slots back: one login at a time passes again
    assert_json(app.login(email, password), 200)


async def _open_when_a_slot_frees(app, sockets, access: str, path: str, label: str, timeout: float = 15):
    """Open `path` with fresh tickets until the server stops answering 429 (a slot came back)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await sockets.open(app.ws_url(path, await sockets.ticket(access)), label)
        except InvalidStatus as exc:
            assert exc.response.status_code == 429, exc.response.body
            assert time.monotonic() < deadline, f"{label}: a closed socket's slot never came back"
        await asyncio.sleep(0.5)


def test_open_sockets_are_capped_per_user_across_rooms_and_the_user_channel(capped_app):
    app = capped_app
    owner, viewer = new_user(app, "Owner"), new_user(app, "Viewer")
    stream = live_stream(app, owner)
    chat_path = f"/v1/streams/{stream['id']}/chat"
    access = viewer["access_token"]

    async def scenario():
        async with Sockets(app) as sockets:
            channel = await sockets.user_channel(access, "viewer channel")
            room, _history = await sockets.chat(access, stream["id"], "viewer room")

            third = await refusal(app.ws_url(chat_path, await sockets.ticket(access)))
            assert third.status_code == 429 and problem_code(third) == "rate_limited", third.body
            assert re.fullmatch(r"[1-9][0-9]*", third.headers.get("Retry-After", "")), third.headers
            await sockets.chat(owner["access_token"], stream["id"], "owner room")  # others unaffected

            # closing a socket frees its slot, once its holder has seen the close: a room's ...
            await room.ws.close()
            await _open_when_a_slot_frees(app, sockets, access, chat_path, "viewer room again")
            # ... and the user channel's
            await channel.ws.close()
            await _open_when_a_slot_frees(app, sockets, access, "/v1/realtime/me", "viewer channel again")

    run(scenario())


def test_sockets_lost_without_a_close_do_not_keep_their_slots(capped_app):
    # Runs last in this module: it kills and restarts the server (same state and port).
    app = capped_app
    owner, viewer = new_user(app, "Owner"), new_user(app, "Viewer")
    stream = live_stream(app, owner)
    chat_path = f"/v1/streams/{stream['id']}/chat"
    access = viewer["access_token"]

    async def fill_the_cap():
        sockets = Sockets(app)
        await sockets.user_channel(access, "viewer channel")
        await sockets.chat(access, stream["id"], "viewer room")
        refused = await refusal(app.ws_url(chat_path, await sockets.ticket(access)))
        assert refused.status_code == 429, refused.body
        # no close: the server dies under them

    run(fill_the_cap())
    app.kill()
    app.restart()

    async def reopen():
        # the rows of the lost sockets are still there; their holders say they are gone
        async with Sockets(app) as sockets:
            await sockets.chat(access, stream["id"], "viewer room after the restart")
            await sockets.user_channel(access, "viewer channel after the restart")

    run(reopen())
