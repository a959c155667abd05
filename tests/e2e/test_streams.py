"""Streams over HTTP: creating, reading, listing the live ones, editing and ending."""
import uuid

from e2e_support import assert_json, assert_problem, assert_uuid, parse_utc
from realtime_support import STREAM_FIELDS, live_stream, new_user


def test_a_new_stream_is_live_and_can_be_read_back(app):
    owner = new_user(app, "Owner")

    resp = app.create_stream(owner["access_token"], {"title": "Hello stream", "description": "First one"})

    stream = assert_json(resp, 201)
    assert STREAM_FIELDS <= set(stream), f"stream lacks {STREAM_FIELDS - set(stream)}"
    assert_uuid(stream["id"])
    fields = ("owner_id", "title", "description", "status", "ended_at")
    assert tuple(stream[f] for f in fields) == \
        (owner["user"]["id"], "Hello stream", "First one", "live", None)
    parse_utc(stream["created_at"])
    parse_utc(stream["updated_at"])
    assert assert_json(app.stream(owner["access_token"], stream["id"]), 200) == stream
    other = new_user(app, "Viewer")
    assert assert_json(app.stream(other["access_token"], stream["id"]), 200) == stream


def test_stream_titles_and_descriptions_are_checked(app):
    owner = new_user(app, "Owner")
    token = owner["access_token"]

    for body in ({"title": ""}, {"title": "t" * 121}, {"title": "ok", "description": "d" * 2001},
                 {"description": "no title"}, {"title": 42}):
        assert_problem(app.create_stream(token, body), 400)
    assert_json(app.create_stream(token, {"title": "t" * 120, "description": "d" * 2000}), 201)
    assert_problem(app.create_stream(None, {"title": "anonymous"}), 401)


def test_an_unknown_stream_is_404(app):
    viewer = new_user(app, "Viewer")

    assert_problem(app.stream(viewer["access_token"], str(uuid.uuid4())), 404)
    assert_problem(app.patch_stream(viewer["access_token"], str(uuid.uuid4()), {"title": "x"}), 404)
    assert_problem(app.end_stream(viewer["access_token"], str(uuid.uuid4())), 404)


def test_the_stream_list_has_live_streams_only_newest_first(app):
    owner = new_user(app, "Owner")
    # Made in quick succession (likely within one second): the order must still be exact.
    first = live_stream(app, owner, "first")
    gone = live_stream(app, owner, "ended")
    second = live_stream(app, owner, "second")
    third = live_stream(app, owner, "third")
    last = live_stream(app, owner, "last")
    assert_json(app.end_stream(owner["access_token"], gone["id"]), 200)
    assert assert_json(app.stream(owner["access_token"], gone["id"]), 200)["status"] == "ended"

    mine, cursor = [], None
    for _ in range(50):  # pages of 2, to follow the cursor; ours are the newest, so near the top
        body = assert_json(app.streams(owner["access_token"], limit=2, cursor=cursor), 200)
        assert len(body["streams"]) <= 2, body
        for s in body["streams"]:
            assert s["status"] == "live", s
            if s["owner_id"] == owner["user"]["id"]:
                mine.append(s["id"])
        cursor = body["next_cursor"]
        if cursor is None or len(mine) == 4:
            break
    titles = {s["id"]: s["title"] for s in (first, second, third, last)}
    assert [titles.get(i, i) for i in mine] == ["last", "third", "second", "first"]
    assert_problem(app.streams(None), 401)
