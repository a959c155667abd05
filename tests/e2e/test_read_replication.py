"""D1 read replication (`D1_READ_REPLICATION=on`), on a server of its own: the read-only listings
read through a D1 session, every D1 route answers with an `X-D1-Bookmark`, a client's bookmark
sent back is accepted (a malformed one is 400 before anything runs), and a revoked session is
still refused at once. Local D1 (miniflare) implements the Sessions API against its one
primary, so what is tested here is the plumbing and the rules, not a replica's lag. With the mode
off (the shared server) there is no header and a sent one is ignored.
"""
from __future__ import annotations

import re

import pytest
import requests

from e2e_support import assert_json, assert_problem, client_ip, new_password, unique_email

BOOKMARK = re.compile(r"^[A-Za-z0-9._:+/=~-]{1,256}$")
LISTED = "http://127.0.0.1:8787"  # on the development ALLOWED_ORIGINS


@pytest.fixture(scope="module")
def replica_app(app_factory):
    return app_factory(D1_READ_REPLICATION="on")


def bookmark_of(resp: requests.Response) -> str:
    value = resp.headers.get("X-D1-Bookmark")
    assert value is not None, f"no X-D1-Bookmark on {resp.request.method} {resp.url}: {resp.status_code}"
    assert BOOKMARK.match(value), value
    return value


def with_bookmark(bookmark: str) -> dict:
    return {"X-D1-Bookmark": bookmark}


def listings(app, access: str, stream_id: str, headers=None) -> dict[str, requests.Response]:
    """The replica routes, each once."""
    return {
        "/v1/me": app.me(access, headers=headers),
        "/v1/auth/sessions": app.sessions(access, headers=headers),
        "/v1/me/audit": app.get("/v1/me/audit", access=access, headers=headers),
        "/v1/credits": app.get("/v1/credits", access=access, headers=headers),
        "/v1/tips": app.get("/v1/tips", access=access, headers=headers),
        "/v1/streams": app.get("/v1/streams", access=access, headers=headers),
        "/v1/streams/{id}": app.get(f"/v1/streams/{stream_id}", access=access, headers=headers),
    }


def test_with_the_mode_on_the_replica_routes_answer_with_a_bookmark_with_or_without_one_sent(replica_app):
    _email, _password, login = replica_app.create_verified_user(name="Reader")
    access = login["access_token"]
    # A fresh sign-in, no bookmark sent: the session is found (a replica without the row would
    # send the check to the primary).
    me = assert_json(replica_app.me(access), 200)
    assert me["name"] == "Reader"
    stream = assert_json(replica_app.create_stream(access, {"title": "Replicated"}), 201)
    created = bookmark_of(replica_app.get(f"/v1/streams/{stream['id']}", access=access))

    for headers in (None, with_bookmark(created)):
        for path, resp in listings(replica_app, access, stream["id"], headers).items():
            assert resp.status_code == 200, (path, resp.status_code, resp.text[:200])
            got = bookmark_of(resp)
            if headers:
                # A session that starts at a bookmark answers with it or a newer one.
                assert got >= created, (path, got, created)
    assert any(s["id"] == stream["id"] for s in assert_json(
        replica_app.get("/v1/streams", access=access, headers=with_bookmark(created)), 200)["streams"])


def test_a_write_answers_with_the_primarys_bookmark_after_it_and_the_next_read_sees_the_write(replica_app):
    _email, _password, login = replica_app.create_verified_user(name="Before")
    access = login["access_token"]
    before = bookmark_of(replica_app.me(access))
    version = replica_app.me(access).json()["version"]

    patched = replica_app.patch_me(access, {"name": "After"}, if_match=version)
    assert_json(patched, 200)
    after = bookmark_of(patched)
    assert after > before, (after, before)  # the primary moved past the client's last read

    me = replica_app.me(access, headers=with_bookmark(after))
    assert assert_json(me, 200)["name"] == "After"
    assert bookmark_of(me) >= after


def test_a_refused_write_and_a_primary_read_hand_back_the_bookmark_the_client_sent(replica_app):
    _email, _password, login = replica_app.create_verified_user()
    access = login["access_token"]
    sent = bookmark_of(replica_app.me(access))

    stale = replica_app.patch_me(access, {"name": "Nope"}, if_match=999, headers=with_bookmark(sent))
    assert_problem(stale, 409, "version_conflict")
    assert bookmark_of(stale) == sent  # nothing written, no extra primary read

    passkeys = replica_app.get("/v1/me/passkeys", access=access, headers=with_bookmark(sent))
    assert_json(passkeys, 200)
    assert bookmark_of(passkeys) == sent
    # A primary read sent no bookmark has none to hand back.
    assert "X-D1-Bookmark" not in replica_app.get("/v1/me/passkeys", access=access).headers


def test_register_and_forgot_hand_back_only_the_bookmark_sent_known_address_or_not(replica_app):
    """Their answers must not tell whether the address has an account: the primary's position
    read after them would, on a quiet database."""
    known, _password, login = replica_app.verified_user()
    sent = bookmark_of(replica_app.me(login["access_token"]))
    for email in (known, unique_email("nobody")):
        for call in (lambda h: replica_app.forgot(email, headers=h),
                     lambda h: replica_app.register(email, new_password(), headers=h)):
            assert call(None).headers.get("X-D1-Bookmark") is None, email
            answer = call(with_bookmark(sent))
            assert answer.status_code < 300, (email, answer.status_code, answer.text[:200])
            assert answer.headers.get("X-D1-Bookmark") == sent, email


@pytest.mark.parametrize("bad", [
    "00000001-aa, 00000002-bb",  # two joined by a proxy or a repeated header
    "a" * 257,
    "has space",
    "semi;colon",
    "first-primary",
    "first-unconstrained",
])
def test_a_malformed_bookmark_is_refused_with_400_before_the_route_runs(replica_app, bad):
    _email, _password, login = replica_app.verified_user()
    access = login["access_token"]
    version = assert_json(replica_app.me(access), 200)["version"]

    body = assert_problem(replica_app.me(access, headers=with_bookmark(bad)), 400, "invalid_request")
    assert "x-d1-bookmark" in body["detail"]
    # On a write route too, and the write does not happen.
    refused = replica_app.patch_me(access, {"name": "Written anyway"}, if_match=version,
                                   headers=with_bookmark(bad))
    assert_problem(refused, 400, "invalid_request")
    assert "X-D1-Bookmark" not in refused.headers
    assert assert_json(replica_app.me(access), 200)["version"] == version


def test_a_revoked_session_is_refused_at_once_on_the_replica_routes_bookmark_or_not(replica_app):
    email, password, first = replica_app.create_verified_user()
    second = assert_json(replica_app.login(email, password), 200)
    assert_json(replica_app.me(second["access_token"]), 200)

    revoked = replica_app.revoke_session(first["access_token"], second["session_id"])
    assert revoked.status_code == 204, revoked.text
    after = bookmark_of(revoked)

    for headers in (None, with_bookmark(after)):
        assert_problem(replica_app.me(second["access_token"], headers=headers), 401)
        assert_problem(replica_app.sessions(second["access_token"], headers=headers), 401)
    listed = assert_json(replica_app.sessions(first["access_token"], headers=with_bookmark(after)), 200)
    assert second["session_id"] not in {s["id"] for s in listed["sessions"]}

    # Logging out is a revocation too: the token is refused by the very next replica read.
    out = replica_app.logout(first["access_token"])
    assert out.status_code == 204, out.text
    assert_problem(replica_app.me(first["access_token"], headers=with_bookmark(bookmark_of(out))), 401)
    assert_problem(replica_app.get("/v1/credits", access=first["access_token"]), 401)
    assert "no primary bookmark" not in replica_app.log_text()


def test_a_session_the_replica_does_not_have_yet_is_looked_up_on_the_primary(app_factory):
    """`DEV_FAULTS=replica_behind`: every replica session lookup finds no row, as on a replica
    still behind a sign-in. The primary then decides: the live session is served, the revoked
    one refused."""
    behind = app_factory(D1_READ_REPLICATION="on", DEV_FAULTS="replica_behind")
    email, password, first = behind.create_verified_user(name="Fresh")
    signed_in = bookmark_of(behind.login(email, password))
    second = assert_json(behind.login(email, password), 200)

    me = behind.me(first["access_token"])
    assert assert_json(me, 200)["name"] == "Fresh"
    assert bookmark_of(me) >= signed_in  # the rest of the request read the primary
    listed = assert_json(behind.sessions(first["access_token"]), 200)
    assert {first["session_id"], second["session_id"]} <= {s["id"] for s in listed["sessions"]}

    assert behind.revoke_session(first["access_token"], second["session_id"]).status_code == 204
    assert_problem(behind.me(second["access_token"]), 401)
    assert_problem(behind.get("/v1/credits", access=second["access_token"]), 401)


def test_browsers_may_send_and_read_the_bookmark_header(replica_app):
    preflight = requests.options(replica_app.base_url + "/v1/me", headers={
        "CF-Connecting-IP": client_ip(), "Origin": LISTED, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, x-d1-bookmark"}, timeout=30)
    assert preflight.status_code == 204, preflight.text
    allowed = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert "x-d1-bookmark" in allowed

    _email, _password, login = replica_app.verified_user()
    resp = replica_app.me(login["access_token"], headers={"Origin": LISTED})
    exposed = {h.strip().lower() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert "x-d1-bookmark" in exposed
    bookmark_of(resp)


def test_with_the_mode_off_there_is_no_bookmark_and_a_sent_one_is_ignored(app):
    _email, _password, login = app.verified_user()
    access = login["access_token"]
    for headers in (None, with_bookmark("not, a bookmark"), with_bookmark("00000001-0000")):
        me = app.me(access, headers=headers)
        assert_json(me, 200)
        assert "X-D1-Bookmark" not in me.headers
    version = app.me(access).json()["version"]
    patched = app.patch_me(access, {"name": "Off"}, if_match=version)
    assert_json(patched, 200)
    assert "X-D1-Bookmark" not in patched.headers
