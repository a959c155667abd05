"""Revocation reaches every socket and every door: whatever ends a session closes its chat-room
sockets (not only its user channel) within a second, binary frames meet the flood limit and bans,
a muted or removed viewer cannot speak through a tip, a non-active account's tokens stop at
once, a login racing a password reset never keeps a session, and a 2xx sign-out means the
access token is refused even when D1 failed on the way."""
import asyncio
import time
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from e2e_support import (assert_json, assert_problem, assert_status, new_password, run_in_parallel)
from realtime_support import Sockets, fund, live_stream, new_user, run, user_id_of

CLOSE_WITHIN_S = 1.0


def chat(text: str) -> dict:
    return {"type": "chat.send", "text": text}


HOWS = ["logout", "revoked from another session", "others signed out", "password change elsewhere",
        "password reset", "deactivate", "delete"]
# Which of the two sessions (A, B) each way ends.
ENDS_B_TOO = {"password reset", "deactivate", "delete"}


@pytest.mark.parametrize("how", HOWS)
def test_ending_a_session_closes_its_chat_sockets_within_a_second(app, how):
    owner = new_user(app, "Owner")
    stream = live_stream(app, owner)
    email, password, a = app.create_verified_user(name="Viewer", device_name="A")
    b = assert_json(app.login(email, password, device_name="B"), 200)

    def end_session_a():
        if how == "logout":
            assert_status(app.logout(a["access_token"]), 204)
        elif how == "revoked from another session":
            assert_status(app.revoke_session(b["access_token"], a["session_id"]), 204)
        elif how == "others signed out":
            assert_status(app.request("DELETE", "/v1/auth/sessions", access=b["access_token"],
                                      params={"scope": "others"}), 204)
        elif how == "password change elsewhere":
            assert_status(app.change_password(b["access_token"], password, new_password()), 204)
        elif how == "password reset":
            assert_status(app.forgot(email), 202)
            token = app.token_from_mail(app.wait_for_mail(email, "Reset"))
            assert_status(app.reset(token, new_password()), 204)
        elif how == "deactivate":
            assert_json(app.deactivate(a["access_token"], password), 200)
        else:
            assert_json(app.delete_me(a["access_token"], password), 202)

    async def scenario():
        async with Sockets(app) as sockets:
            o, _ = await sockets.chat(owner["access_token"], stream["id"], "owner")
            room_a, _ = await sockets.chat(a["access_token"], stream["id"], "A in the room")
            room_b, _ = await sockets.chat(b["access_token"], stream["id"], "B in the room")

            await sockets.http(end_session_a)
            ended = time.monotonic()

            code = await room_a.close_frame(timeout=CLOSE_WITHIN_S)
            assert code == 4001, f"A's chat socket closed with {code}"
            assert time.monotonic() - ended <= CLOSE_WITHIN_S + 0.2
            assert any(e["type"] == "session.revoked" for e in room_a.received), room_a.received
            if how in ENDS_B_TOO:
                assert await room_b.close_frame(timeout=CLOSE_WITHIN_S) == 4001
            else:
                await room_b.send(chat("still here"))
                message = await o.take("chat.message")
                assert message["text"] == "still here", message
            # Nothing said in the room reaches the closed socket any more.
            await o.send(chat("after the revocation"))
            await o.take("chat.message")
            assert not [e for e in room_a.received if e.get("text") == "after the revocation"]

    run(scenario())


def test_a_reused_refresh_token_closes_the_sessions_chat_socket(short_reuse_window_app):
    app = short_reuse_window_app
    owner = new_user(app, "Owner")
    stream = live_stream(app, owner)
    _email, _password, a = app.create_verified_user(name="Viewer")

    async def scenario():
        async with Sockets(app) as sockets:
            room_a, _ = await sockets.chat(a["access_token"], stream["id"], "A in the room")
            assert_json(await sockets.http(app.refresh, a["refresh_token"]), 200)
            await asyncio.sleep(app.reuse_window + 1.5)
            assert_problem(await sockets.http(app.refresh, a["refresh_token"]), 401,
                           "refresh_token_reused")
            assert await room_a.close_frame(timeout=CLOSE_WITHIN_S) == 4001

    run(scenario())


def test_binary_frames_count_toward_the_flood_limit(app):
    owner, flooder = new_user(app, "Owner"), new_user(app, "Binary flooder")
    stream = live_stream(app, owner)

    async def scenario():
        async with Sockets(app) as sockets:
            f, _ = await sockets.chat(flooder["access_token"], stream["id"], "flooder")
            for _ in range(8):  # a burst of 5 allowed, then 3 too many
                await f.ws.send(b"\x00\x01binary")
            code = await f.expect_close()
            assert code == 1008, f"close code {code}; received {f.received}"
            errors = [e["code"] for e in f.received if e["type"] == "error"]
            assert errors.count("invalid_frame") == 5 and "rate_limited" in errors, errors

    run(scenario())


def test_a_removed_users_binary_frame_closes_their_socket(app):
    owner, viewer = new_user(app, "Owner"), new_user(app, "Removed")
    stream = live_stream(app, owner)

    async def scenario():
        async with Sockets(app) as sockets:
            o, _ = await sockets.chat(owner["access_token"], stream["id"], "owner")
            v, _ = await sockets.chat(viewer["access_token"], stream["id"], "viewer")
            await o.send({"type": "moderation.remove", "user_id": viewer["user"]["id"]})
            await o.sync()
            try:
                await v.ws.send(b"binary after removal")
            except ConnectionClosed as exc:  # the removal's own close may be there already
                v.closed = exc
            assert await v.expect_close() == 4003

    run(scenario())


@pytest.mark.parametrize("moderation", ["mute", "remove"])
def test_a_muted_or_removed_viewer_cannot_post_through_a_tip_message(app, moderation):
    owner, viewer = new_user(app, "Owner"), new_user(app, "Tipper")
    stream = live_stream(app, owner)
    fund(app, viewer, 10)
    viewer_id = viewer["user"]["id"]

    async def scenario():
        async with Sockets(app) as sockets:
            o, _ = await sockets.chat(owner["access_token"], stream["id"], "owner")
            frame = ({"type": "moderation.mute", "user_id": viewer_id, "seconds": 60}
                     if moderation == "mute" else {"type": "moderation.remove", "user_id": viewer_id})
            await o.send(frame)
            await o.sync()

            resp = await sockets.http(app.tip, viewer["access_token"], stream["id"],
                                      {"amount": 2, "message": "you cannot mute me"}, str(uuid.uuid4()))
            assert_problem(resp, 403, "forbidden")
            silent = await sockets.http(app.tip, viewer["access_token"], stream["id"],
                                        {"amount": 2}, str(uuid.uuid4()))
            tip = assert_json(silent, 201)["tip"]
            event = await o.take("tip.received")
            assert event["tip"]["id"] == tip["id"] and event["tip"]["message"] is None, event
            assert not [e for e in o.received if "you cannot mute me" in str(e)], o.received

    run(scenario())
    assert app.balance(viewer["access_token"]) == 8, "only the tip without a message was charged"


def test_a_login_racing_a_password_reset_never_keeps_a_session(app):
    email, password, _login = app.create_verified_user()
    assert_status(app.forgot(email), 202)
    token = app.token_from_mail(app.wait_for_mail(email, "Reset"))
    new = new_password()

    def act(i):
        if i == 0:
            time.sleep(0.05)
            return app.reset(token, new)
        return app.login(email, password)

    results = run_in_parallel(act, 12)

    assert_status(results[0], 204)
    for resp in results[1:]:
        if resp.status_code == 200:
            body = resp.json()
            assert_problem(app.me(body["access_token"]), 401, "session_revoked")
            assert_problem(app.refresh(body["refresh_token"]), 401)
        else:
            assert_problem(resp, 401, "invalid_credentials")
    assert_json(app.login(email, new), 200)
    assert_problem(app.login(email, password), 401, "invalid_credentials")


@pytest.fixture(scope="module")
def mirror_fault_app(app_factory):
    """A server whose session objects cannot write D1 (`DEV_FAULTS=session_mirror`)."""
    return app_factory(DEV_FAULTS="session_mirror")


def test_without_d1_a_sign_out_answers_503_never_2xx_and_the_refresh_token_is_dead(mirror_fault_app):
    app = mirror_fault_app
    _email, _password, login = app.create_verified_user()

    resp = app.logout(login["access_token"])

    assert_problem(resp, 503, "unavailable")
    assert resp.headers.get("Retry-After"), resp.headers
    assert_problem(app.refresh(login["refresh_token"]), 401)


@pytest.mark.parametrize("how", ["deactivate", "delete"])
def test_a_deactivated_or_deleted_accounts_tokens_stop_even_if_d1_missed_the_revocation(
        mirror_fault_app, how):
    app = mirror_fault_app
    email, password, a = app.create_verified_user(device_name="A")
    b = assert_json(app.login(email, password, device_name="B"), 200)

    if how == "deactivate":
        assert_json(app.deactivate(a["access_token"], password), 200)
    else:
        assert_json(app.delete_me(a["access_token"], password), 202)

    for s in (a, b):
        assert_problem(app.me(s["access_token"]), 401, "session_revoked")
        assert_problem(app.refresh(s["refresh_token"]), 401)
