"""A stream's chat room over WebSocket: tickets and origins, one order for everyone, presence,
history, flood control, the end of a stream and the owner's moderation."""
import asyncio
import uuid

from e2e_support import assert_json, assert_problem, parse_utc
from realtime_support import (ALLOWED_ORIGIN, Sockets, fund, live_stream, new_user, new_users,
                              problem_code, refusal, run, user_id_of)


def chat(text: str) -> dict:
    return {"type": "chat.send", "text": text}


def assert_chat_message(event: dict) -> None:
    assert {"type", "id", "author", "text", "time"} <= set(event), event
    assert isinstance(event["id"], str) and event["id"], event
    parse_utc(event["time"])


def test_everyone_in_a_room_sees_every_message_in_one_order_with_presence_and_history(app):
    owner, viewer1, viewer2, late = new_users(app, "Owner", "Viewer One", "Viewer Two", "Late Viewer")
    stream = live_stream(app, owner, "Same order for all")

    async def scenario():
        async with Sockets(app) as sockets:
            o, history = await sockets.chat(owner["access_token"], stream["id"], "owner")
            assert history == []
            v1, history = await sockets.chat(viewer1["access_token"], stream["id"], "viewer1")
            assert history == []
            joined = await o.take("presence.joined")
            assert user_id_of(joined["user"]) == viewer1["user"]["id"], joined
            if isinstance(joined["user"], dict) and "name" in joined["user"]:
                assert joined["user"]["name"] == "Viewer One", joined
            v2, history = await sockets.chat(viewer2["access_token"], stream["id"], "viewer2")
            assert history == []
            for s in (o, v1):
                joined = await s.take("presence.joined")
                assert user_id_of(joined["user"]) == viewer2["user"]["id"], (s, joined)
            assert not v1.pending("presence.joined") and not v2.pending("presence.joined")

            senders = {o: owner, v1: viewer1, v2: viewer2}
            sent = []
            for round_ in range(3):  # interleaved, without waiting for anything in between
                for s, user in senders.items():
                    text = f"{s.label} says {round_}"
                    sent.append((user["user"]["id"], text))
                    await s.send(chat(text))

            seen = {}
            for s in senders:
                messages = await s.take_n("chat.message", len(sent))
                for m in messages:
                    assert_chat_message(m)
                seen[s] = messages
            ids = [m["id"] for m in seen[o]]
            assert len(set(ids)) == len(sent), ids
            for s in (v1, v2):
                assert [m["id"] for m in seen[s]] == ids, f"{s.label} saw another order"
            delivered = [(user_id_of(m["author"]), m["text"]) for m in seen[o]]
            assert sorted(delivered) == sorted(sent)
            for user in senders.values():  # each sender's own messages keep their order
                uid = user["user"]["id"]
                assert [t for a, t in delivered if a == uid] == [t for a, t in sent if a == uid]

            last, history = await sockets.chat(late["access_token"], stream["id"], "late")
            assert [m["id"] for m in history] == ids, "history is the earlier messages, oldest first"
            assert [(user_id_of(m["author"]), m["text"]) for m in history] == delivered
            for s in senders:
                joined = await s.take("presence.joined")
                assert user_id_of(joined["user"]) == late["user"]["id"], (s, joined)

            await last.ws.close()
            for s in senders:
                left = await s.take("presence.left")
                assert user_id_of(left["user"]) == late["user"]["id"], (s, left)

    run(scenario())


def test_chat_refuses_missing_unknown_and_used_tickets_and_foreign_origins(app):
    owner, viewer = new_users(app, "Owner", "Viewer")
    stream = live_stream(app, owner)
    chat_path = f"/v1/streams/{stream['id']}/chat"

    resp = app.realtime_ticket(viewer["access_token"])
    body = assert_json(resp, 201)
    assert isinstance(body["ticket"], str) and body["ticket"]
    assert body["expires_in"] == 30
    assert_problem(app.realtime_ticket(None), 401)

    async def scenario():
        async with Sockets(app) as sockets:
            unknown = "not-a-ticket-" + uuid.uuid4().hex
            for what, url in (("no ticket", app.ws_url(chat_path)),
                              ("an unknown ticket", app.ws_url(chat_path, unknown))):
                refused = await refusal(url)
                assert refused.status_code == 401, f"{what}: {refused.status_code}"
                assert problem_code(refused) == "invalid_ticket", f"{what}: {refused.body!r}"

            used = body["ticket"]
            first = await sockets.open(app.ws_url(chat_path, used), "first use")
            assert (await first.first())["type"] == "chat.history"
            await first.ws.close()
            refused = await refusal(app.ws_url(chat_path, used))
            assert refused.status_code == 401, f"a used ticket: {refused.status_code}"
            assert problem_code(refused) == "invalid_ticket", refused.body

            refused = await refusal(app.ws_url(chat_path, await sockets.ticket(viewer["access_token"])),
                                    origin="https://evil.example")
            assert refused.status_code == 403, f"a foreign Origin: {refused.status_code}"

            # No Origin at all (a non-browser client), and an allowed one: both get in.
            _s, history = await sockets.chat(viewer["access_token"], stream["id"], "no origin")
            assert history == []
            _s, history = await sockets.chat(viewer["access_token"], stream["id"], "allowed origin",
                                             origin=ALLOWED_ORIGIN)
            assert history == []

    run(scenario())


def test_the_chat_of_an_unknown_stream_is_refused_with_404(app):
    viewer = new_user(app, "Viewer")

    async def scenario():
        url = app.ws_url(f"/v1/streams/{uuid.uuid4()}/chat", app.new_ticket(viewer["access_token"]))
        refused = await refusal(url)
        assert refused.status_code == 404, refused.status_code

    run(scenario())


def test_bad_frames_get_an_error_for_the_sender_only(app):
    owner, viewer = new_users(app, "Owner", "Viewer")
    stream = live_stream(app, owner)

    async def scenario():
        async with Sockets(app) as sockets:
            o, _ = await sockets.chat(owner["access_token"], stream["id"], "owner")
            v, _ = await sockets.chat(viewer["access_token"], stream["id"], "viewer")
            for frame in ("this is not JSON", {"type": "chat.shout", "text": "hi"}, chat(""),
                          chat("x" * 501)):
                error = await v.request(frame)
                assert isinstance(error.get("code"), str) and error["code"], (frame, error)
            # Whatever the owner says next is the first message anyone sees.
            await o.send(chat("first real message"))
            for s in (o, v):
                message = await s.take("chat.message")
                assert (user_id_of(message["author"]), message["text"]) == \
                    (owner["user"]["id"], "first real message"), s
            assert not o.pending("error"), o.received
            assert not v.pending("chat.message"), v.received

    run(scenario())


def test_a_flooding_connection_gets_errors_then_is_closed_with_1008(app):
    owner, flooder = new_users(app, "Owner", "Flooder")
    stream = live_stream(app, owner)

    async def scenario():
        async with Sockets(app) as sockets:
            o, _ = await sockets.chat(owner["access_token"], stream["id"], "owner")
            f, _ = await sockets.chat(flooder["access_token"], stream["id"], "flooder")
            for i in range(8):  # a burst of 5 allowed, then 3 too many
                await f.send(chat(f"flood {i}"))
            code = await f.expect_close()
            assert code == 1008, f"close code {code}; received {f.received}"
            mine = [e["text"] for e in f.received if e["type"] == "chat.message"]
            assert mine == [f"flood {i}" for i in range(5)], f.received
            errors = [e for e in f.received if e["type"] == "error"]
            assert 2 <= len(errors) <= 3 and all(e["code"] == "rate_limited" for e in errors), f.received

            left = await o.take("presence.left")
            assert user_id_of(left["user"]) == flooder["user"]["id"], left
            seen = [e["text"] for e in o.received if e["type"] == "chat.message"]
            assert seen == mine, "the room got exactly the allowed messages"
            assert not [e for e in o.received if e["type"] == "error"], o.received

    run(scenario())


def test_ending_a_stream_tells_the_room_and_stops_the_chat_and_only_the_owner_edits_it(app):
    owner, viewer = new_users(app, "Owner", "Viewer")
    stream = live_stream(app, owner, "Before", description="About to change")
    fund(app, viewer, 1)

    async def scenario():
        async with Sockets(app) as sockets:
            v, _ = await sockets.chat(viewer["access_token"], stream["id"], "viewer")

            resp = await sockets.http(app.patch_stream, viewer["access_token"], stream["id"],
                                      {"title": "Mine now"})
            assert_problem(resp, 403, "forbidden")

            resp = await sockets.http(app.patch_stream, owner["access_token"], stream["id"],
                                      {"title": "After"})
            patched = assert_json(resp, 200)
            assert (patched["id"], patched["title"], patched["description"], patched["status"]) == \
                (stream["id"], "After", "About to change", "live")
            updated = await v.take("stream.updated")
            assert updated["stream"] == patched, updated

            resp = await sockets.http(app.end_stream, owner["access_token"], stream["id"])
            ended = assert_json(resp, 200)
            assert ended["status"] == "ended", ended
            parse_utc(ended["ended_at"])
            await v.take("stream.ended")

            error = await v.request(chat("anyone there?"))
            assert error["code"] == "stream_ended", error
            await v.sync()
            assert not [e for e in v.received if e["type"] == "chat.message"], v.received

    run(scenario())

    resp = app.tip(viewer["access_token"], stream["id"], {"amount": 1}, idempotency_key=str(uuid.uuid4()))
    assert_problem(resp, 409, "stream_ended")
    assert app.balance(viewer["access_token"]) == 1
    assert app.balance(owner["access_token"]) == 0


def test_the_owner_mutes_unmutes_and_removes_a_viewer_who_cannot_come_back(app):
    owner, viewer = new_users(app, "Owner", "Troll")
    stream = live_stream(app, owner)
    owner_id, viewer_id = owner["user"]["id"], viewer["user"]["id"]

    async def scenario():
        async with Sockets(app) as sockets:
            o, _ = await sockets.chat(owner["access_token"], stream["id"], "owner")
            v, _ = await sockets.chat(viewer["access_token"], stream["id"], "viewer")
            v2, _ = await sockets.chat(viewer["access_token"], stream["id"], "viewer's second tab")

            error = await v.request({"type": "moderation.mute", "user_id": owner_id, "seconds": 60})
            assert error["code"] == "forbidden", error

            await o.send({"type": "moderation.mute", "user_id": viewer_id, "seconds": 60})
            await o.sync()
            error = await v.request(chat("you cannot silence me"))
            assert error["code"] == "muted", error

            await o.send({"type": "moderation.unmute", "user_id": viewer_id})
            await o.sync()
            await v.send(chat("thanks for unmuting"))
            message = await o.take("chat.message")  # the muted text was never broadcast
            assert (user_id_of(message["author"]), message["text"]) == (viewer_id, "thanks for unmuting")

            await o.send({"type": "moderation.remove", "user_id": viewer_id})
            # A removed user's frame is answered by a 4003 close at once. A silent socket is
            # closed by the owner's event, and a hibernatable socket closed from another
            # socket's event only sends its close frame when the room next hibernates (about
            # 10 s under workerd), so it gets the time for that.
            await v.send(chat("let me back in"))
            codes = await asyncio.gather(v.expect_close(), v2.expect_close(timeout=30), return_exceptions=True)
            assert codes == [4003, 4003], f"both of the removed user's connections: {codes}"

            url = app.ws_url(f"/v1/streams/{stream['id']}/chat", await sockets.ticket(viewer["access_token"]))
            refused = await refusal(url)
            assert refused.status_code == 403, refused.status_code

    run(scenario())
