"""The user's own event channel (/v1/realtime/me): tips arrive there and in the stream's room, and
revoking a session closes that session's socket only."""
import uuid

import pytest

from e2e_support import assert_json, assert_status, new_password
from realtime_support import (Sockets, fund, live_stream, new_user, new_users, problem_code, refusal,
                              run)


def test_a_tip_reaches_the_owners_channel_and_the_streams_room(app):
    owner, viewer = new_users(app, "Owner", "Tipper")
    stream = live_stream(app, owner)
    fund(app, viewer, 10)

    async def scenario():
        async with Sockets(app) as sockets:
            mine = await sockets.user_channel(owner["access_token"], "owner's channel")
            room_owner, _ = await sockets.chat(owner["access_token"], stream["id"], "owner in room")
            room_viewer, _ = await sockets.chat(viewer["access_token"], stream["id"], "viewer in room")

            resp = await sockets.http(app.tip, viewer["access_token"], stream["id"],
                                      {"amount": 4, "message": "great stream"}, str(uuid.uuid4()))
            tip = assert_json(resp, 201)["tip"]
            assert (tip["amount"], tip["message"], tip["to_user_id"]) == \
                (4, "great stream", owner["user"]["id"])

            for s in (mine, room_owner, room_viewer):
                event = await s.take("tip.received")
                assert event["tip"] == tip, (s, event)

    run(scenario())


def test_the_user_channel_refuses_unknown_and_used_tickets(app):
    user = new_user(app, "User")

    async def scenario():
        async with Sockets(app) as sockets:
            refused = await refusal(app.ws_url("/v1/realtime/me", "unknown-" + uuid.uuid4().hex))
            assert refused.status_code == 401 and problem_code(refused) == "invalid_ticket", refused.body
            ticket = await sockets.ticket(user["access_token"])
            first = await sockets.open(app.ws_url("/v1/realtime/me", ticket), "first use")
            await first.ws.close()
            refused = await refusal(app.ws_url("/v1/realtime/me", ticket))
            assert refused.status_code == 401, refused.status_code
            refused = await refusal(app.ws_url("/v1/realtime/me", await sockets.ticket(user["access_token"])),
                                    origin="https://evil.example")
            assert refused.status_code == 403, refused.status_code

    run(scenario())


@pytest.mark.parametrize("how", ["revoked from another session", "logout", "password change elsewhere"])
def test_revoking_a_session_closes_its_user_channel_and_only_that_one(app, how):
    email, password, session_a = app.create_verified_user(name="Two devices", device_name="A")
    session_b = assert_json(app.login(email, password, device_name="B"), 200)

    def revoke_a():
        if how == "revoked from another session":
            assert_status(app.revoke_session(session_b["access_token"], session_a["session_id"]), 204)
        elif how == "logout":
            assert_status(app.logout(session_a["access_token"]), 204)
        else:
            assert_status(app.change_password(session_b["access_token"], password, new_password()), 204)

    async def scenario():
        async with Sockets(app) as sockets:
            socket_a = await sockets.user_channel(session_a["access_token"], "session A")
            socket_b = await sockets.user_channel(session_b["access_token"], "session B")

            await sockets.http(revoke_a)

            revoked = await socket_a.take("session.revoked")
            assert revoked["session_id"] == session_a["session_id"], revoked
            code = await socket_a.expect_close()
            assert code == 4001, code
            # B may hear about A's revocation, but its own session is alive and so is its socket:
            # its object answers a ping after handling the revocation (a close would come first).
            await socket_b.sync()
            for event in socket_b.received:
                if event["type"] == "session.revoked":
                    assert event["session_id"] == session_a["session_id"], event

    run(scenario())
