"""Workspaces: the whole flow (create, settings, invitations by e-mail, roles, leave, delete and
the cron purge), tenant isolation on every route, the last-admin guard under concurrency, single
use of invitations under concurrency, and e-mail-domain auto-join."""
import uuid
from concurrent.futures import ThreadPoolExecutor

from e2e_support import assert_json, assert_problem, assert_uuid, parse_utc

WORKSPACE_FIELDS = {"id", "name", "timezone", "locale", "auto_join_domain", "role", "created_at", "updated_at"}
MEMBER_FIELDS = {"user_id", "email", "name", "role", "status", "joined_at"}
INVITATION_FIELDS = {"id", "workspace_id", "email", "role", "status", "invited_by", "created_at", "expires_at"}


# ---------------------------------------------------------------- calls

def create(app, token, body):
    return app.post("/v1/workspaces", body, access=token)


def get(app, token, ws):
    return app.get(f"/v1/workspaces/{ws}", access=token)


def patch(app, token, ws, body):
    return app.request("PATCH", f"/v1/workspaces/{ws}", json_body=body, access=token)


def delete(app, token, ws):
    return app.request("DELETE", f"/v1/workspaces/{ws}", access=token)


def members(app, token, ws, **params):
    return app.get(f"/v1/workspaces/{ws}/members", access=token, params=params or None)


def set_role(app, token, ws, user, role):
    return app.request("PATCH", f"/v1/workspaces/{ws}/members/{user}", json_body={"role": role}, access=token)


def remove(app, token, ws, user):
    return app.request("DELETE", f"/v1/workspaces/{ws}/members/{user}", access=token)


def invite(app, token, ws, email, role="member"):
    return app.post(f"/v1/workspaces/{ws}/invitations", {"email": email, "role": role}, access=token)


def invitations(app, token, ws):
    return app.get(f"/v1/workspaces/{ws}/invitations", access=token)


def revoke(app, token, ws, invitation):
    return app.request("DELETE", f"/v1/workspaces/{ws}/invitations/{invitation}", access=token)


def accept(app, token, invitation_token):
    return app.post("/v1/invitations/accept", {"token": invitation_token}, access=token)


def join(app, token, ws):
    return app.post(f"/v1/workspaces/{ws}/join", access=token)


# ---------------------------------------------------------------- helpers

def user(app):
    """A verified, signed-in user: {email, token, id}."""
    email, _password, tokens = app.verified_user()
    return {"email": email, "token": tokens["access_token"], "id": tokens["user"]["id"]}


def new_workspace(app, admin, name="Acme", **settings):
    ws = assert_json(create(app, admin["token"], {"name": name, **settings}), 201)
    return ws["id"]


def invitation_token(app, admin, ws, invitee, role="member"):
    """Invites `invitee` and returns the token from the mail that reaches them."""
    sent = assert_json(invite(app, admin["token"], ws, invitee["email"], role), 201)
    mail = app.wait_for_mail(invitee["email"], "invited")
    assert sent["status"] == "pending"
    return app.token_from_mail(mail)


def add_member(app, admin, ws, invitee, role="member"):
    token = invitation_token(app, admin, ws, invitee, role)
    assert assert_json(accept(app, invitee["token"], token), 200)["role"] == role


def admin_ids(app, token, ws):
    body = assert_json(members(app, token, ws, role="admin", limit=100), 200)
    return {m["user_id"] for m in body["members"]}


def audit_types(app, who):
    return [e["type"] for e in app.audit_events(who["token"])]


# ---------------------------------------------------------------- the flow

def test_a_workspace_lives_from_creation_through_invitations_and_roles_to_deletion(app):
    ann, bo = user(app), user(app)

    created = assert_json(create(app, ann["token"], {"name": " Acme ", "timezone": "Europe/Paris",
                                                      "locale": "pt-BR"}), 201)
    assert WORKSPACE_FIELDS <= set(created), created
    assert_uuid(created["id"])
    parse_utc(created["created_at"])
    assert (created["name"], created["timezone"], created["locale"], created["role"]) == \
        ("Acme", "Europe/Paris", "pt-BR", "admin")
    ws = created["id"]
    assert assert_json(get(app, ann["token"], ws), 200) == created
    mine = assert_json(app.get("/v1/workspaces", access=ann["token"]), 200)
    assert [w["id"] for w in mine["workspaces"]] == [ws] and mine["next_cursor"] is None

    # Settings are validated like the profile's.
    for bad in ({"timezone": "Mars/Olympus"}, {"locale": "english"}, {"name": ""}, {"name": "x" * 101},
                {"auto_join_domain": "not a domain"}, {"owner": "me"}):
        assert_problem(patch(app, ann["token"], ws, bad), 400, "invalid_request")
    changed = assert_json(patch(app, ann["token"], ws, {"name": "Acme Inc.", "timezone": None}), 200)
    assert (changed["name"], changed["timezone"], changed["locale"]) == ("Acme Inc.", None, "pt-BR")

    # An invitation by e-mail, listed while pending, accepted by the invited verified account.
    sent = assert_json(invite(app, ann["token"], ws, bo["email"].upper()), 201)
    assert INVITATION_FIELDS <= set(sent), sent
    assert (sent["email"], sent["role"], sent["status"], sent["invited_by"]) == \
        (bo["email"], "member", "pending", ann["id"])
    assert parse_utc(sent["expires_at"]) > parse_utc(sent["created_at"])
    pending = assert_json(invitations(app, ann["token"], ws), 200)["invitations"]
    assert [i["id"] for i in pending] == [sent["id"]]
    mail = app.wait_for_mail(bo["email"], "invited")
    assert "Acme Inc." in mail["text"]
    assert_problem(get(app, bo["token"], ws), 404)
    joined = assert_json(accept(app, bo["token"], app.token_from_mail(mail)), 200)
    assert (joined["id"], joined["role"]) == (ws, "member")
    assert assert_json(invitations(app, ann["token"], ws), 200)["invitations"] == []
    assert_problem(invite(app, ann["token"], ws, bo["email"]), 409, "already_member")

    listed = assert_json(members(app, bo["token"], ws), 200)
    assert {m["user_id"]: m["role"] for m in listed["members"]} == {ann["id"]: "admin", bo["id"]: "member"}
    assert all(MEMBER_FIELDS <= set(m) and m["status"] == "active" for m in listed["members"])
    assert [m["user_id"] for m in assert_json(members(app, bo["token"], ws, role="member"), 200)["members"]] \
        == [bo["id"]]
    page = assert_json(members(app, bo["token"], ws, limit=1), 200)
    rest = assert_json(members(app, bo["token"], ws, limit=1, cursor=page["next_cursor"]), 200)
    assert {page["members"][0]["user_id"], rest["members"][0]["user_id"]} == {ann["id"], bo["id"]}
    assert rest["next_cursor"] is None
    assert_problem(members(app, bo["token"], ws, role="owner"), 400, "invalid_request")

    # A member reads but does not administer.
    assert assert_json(get(app, bo["token"], ws), 200)["role"] == "member"
    assert_problem(patch(app, bo["token"], ws, {"name": "Mine"}), 403, "forbidden")
    assert_problem(invite(app, bo["token"], ws, "someone@example.test"), 403, "forbidden")
    assert_problem(invitations(app, bo["token"], ws), 403, "forbidden")
    assert_problem(set_role(app, bo["token"], ws, bo["id"], "admin"), 403, "forbidden")
    assert_problem(remove(app, bo["token"], ws, ann["id"]), 403, "forbidden")
    assert_problem(delete(app, bo["token"], ws), 403, "forbidden")

    # Roles change from the next request on; the last admin stays.
    promoted = assert_json(set_role(app, ann["token"], ws, bo["id"], "admin"), 200)
    assert MEMBER_FIELDS <= set(promoted) and promoted["role"] == "admin"
    assert assert_json(set_role(app, ann["token"], ws, ann["id"], "member"), 200)["role"] == "member"
    assert_problem(patch(app, ann["token"], ws, {"name": "Back"}), 403, "forbidden")
    assert_problem(set_role(app, bo["token"], ws, bo["id"], "member"), 409, "last_admin")
    assert_problem(remove(app, bo["token"], ws, bo["id"]), 409, "last_admin")
    assert admin_ids(app, bo["token"], ws) == {bo["id"]}

    # A member leaves; the admin removes nobody who is not there.
    assert remove(app, ann["token"], ws, ann["id"]).status_code == 204
    assert_problem(get(app, ann["token"], ws), 404)
    assert_problem(remove(app, bo["token"], ws, ann["id"]), 404)

    # The audit logs name what happened to each of them.
    assert {"workspace_created", "workspace_invitation_sent", "workspace_role_changed", "workspace_left"} \
        <= set(audit_types(app, ann))
    assert {"workspace_joined", "workspace_role_changed"} <= set(audit_types(app, bo))

    # Deletion: 202 and gone for everyone at once (the purge comes later).
    gone = assert_json(delete(app, bo["token"], ws), 202)
    assert (gone["id"], gone["status"]) == (ws, "pending_deletion")
    assert parse_utc(gone["deletion_due_at"]) > parse_utc(created["created_at"])
    assert_problem(get(app, bo["token"], ws), 404)
    assert_problem(delete(app, bo["token"], ws), 404)
    assert ws not in [w["id"] for w in assert_json(app.get("/v1/workspaces", access=bo["token"]), 200)["workspaces"]]


def test_a_deleted_workspace_is_purged_by_the_cron_after_its_grace_period(purge_app):
    app = purge_app
    email, _password, tokens = app.create_verified_user()
    admin = {"email": email, "token": tokens["access_token"], "id": tokens["user"]["id"]}
    ws = new_workspace(app, admin)
    kept = new_workspace(app, admin, "Kept")
    assert app.d1_rows("SELECT COUNT(*) FROM workspace_members WHERE workspace_id = ?", (ws,)) == [(1,)]

    assert_json(delete(app, admin["token"], ws), 202)
    app.run_cron()

    assert app.d1_rows("SELECT id FROM workspaces WHERE id IN (?, ?)", (ws, kept)) == [(kept,)]
    assert app.d1_rows("SELECT COUNT(*) FROM workspace_members WHERE workspace_id = ?", (ws,)) == [(0,)]
    assert assert_json(get(app, admin["token"], kept), 200)["name"] == "Kept"


def test_a_purged_account_leaves_its_workspaces_with_an_admin_or_deletes_the_ones_it_was_alone_in(purge_app):
    app = purge_app
    (ann_email, ann_password, ann_tokens), (bo_email, _p, bo_tokens) = app.create_verified_users(2)
    ann = {"email": ann_email, "token": ann_tokens["access_token"], "id": ann_tokens["user"]["id"]}
    bo = {"email": bo_email, "token": bo_tokens["access_token"], "id": bo_tokens["user"]["id"]}
    shared = new_workspace(app, ann, "Shared")
    add_member(app, ann, shared, bo)
    alone = new_workspace(app, ann, "Alone")
    assert_json(invite(app, ann["token"], shared, "pending-" + bo["email"]), 201)

    assert app.delete_me(ann["token"], ann_password).status_code == 202
    app.run_cron()

    assert admin_ids(app, bo["token"], shared) == {bo["id"]}
    assert app.d1_rows("SELECT COUNT(*) FROM workspace_members WHERE user_id = ?", (ann["id"],)) == [(0,)]
    app.run_cron()  # the next sweep purges the workspace it was alone in
    assert app.d1_rows("SELECT COUNT(*) FROM workspaces WHERE id = ?", (alone,)) == [(0,)]
    assert app.d1_rows("SELECT COUNT(*) FROM workspace_invitations WHERE invited_by = ?", (ann["id"],)) == [(0,)]


def test_the_listing_of_my_workspaces_pages_newest_first(app):
    owner = user(app)
    made = [new_workspace(app, owner, f"W{i}") for i in range(5)]
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = assert_json(app.get("/v1/workspaces", access=owner["token"], params=params), 200)
        seen += [w["id"] for w in body["workspaces"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    assert_problem(app.get("/v1/workspaces", access=owner["token"], params={"cursor": "nope"}), 400)
    assert_problem(app.get("/v1/workspaces"), 401)


# ---------------------------------------------------------------- isolation

def test_no_workspace_route_answers_anything_but_404_to_a_non_member_or_for_foreign_ids(app):
    ann, ari, bea, ben = user(app), user(app), user(app), user(app)
    a = new_workspace(app, ann, "A")
    add_member(app, ann, a, ari)
    b = new_workspace(app, bea, "B")
    add_member(app, bea, b, ben)
    b_invitation = assert_json(invite(app, bea["token"], b, "x-" + ben["email"]), 201)["id"]

    def every_route(token, ws, member, invitation):
        return {
            "get": get(app, token, ws),
            "patch": patch(app, token, ws, {"name": "x"}),
            "delete": delete(app, token, ws),
            "join": join(app, token, ws),
            "members": members(app, token, ws),
            "set_role": set_role(app, token, ws, member, "admin"),
            "remove": remove(app, token, ws, member),
            "invite": invite(app, token, ws, "y@example.test"),
            "invitations": invitations(app, token, ws),
            "revoke": revoke(app, token, ws, invitation),
        }

    # An outsider, with another workspace's id (real, unknown or malformed), whatever the ids in it.
    for ws in (b, str(uuid.uuid4()), "not-a-uuid"):
        for route, resp in every_route(ann["token"], ws, ben["id"], b_invitation).items():
            assert resp.status_code == 404, f"{route} on {ws}: {resp.status_code} {resp.text[:200]}"
            assert_problem(resp, 404, "not_found")
    # A member of A naming B's member and B's invitation inside A: unknown there.
    assert_problem(set_role(app, ann["token"], a, ben["id"], "admin"), 404)
    assert_problem(remove(app, ann["token"], a, ben["id"]), 404)
    assert_problem(revoke(app, ann["token"], a, b_invitation), 404)
    assert_problem(set_role(app, ann["token"], a, "not-a-uuid", "admin"), 404)
    # And A's member (not an admin) is refused admin actions in A, 403, not 404.
    assert_problem(revoke(app, ari["token"], a, str(uuid.uuid4())), 403, "forbidden")
    # Nothing changed in B.
    assert assert_json(get(app, bea["token"], b), 200)["name"] == "B"
    assert {m["user_id"] for m in assert_json(members(app, bea["token"], b), 200)["members"]} == {bea["id"], ben["id"]}
    assert [i["id"] for i in assert_json(invitations(app, bea["token"], b), 200)["invitations"]] == [b_invitation]


# ---------------------------------------------------------------- concurrency

def test_twenty_parallel_demotions_and_removals_across_two_admins_leave_exactly_one_admin(app):
    def each_other(actor, other):
        return [lambda: set_role(app, actor["token"], ws, other["id"], "member")] * 10

    def mixed(actor, other):
        return ([lambda: set_role(app, actor["token"], ws, other["id"], "member")] * 3
                + [lambda: remove(app, actor["token"], ws, other["id"])] * 3
                + [lambda: set_role(app, actor["token"], ws, actor["id"], "member")] * 2
                + [lambda: remove(app, actor["token"], ws, actor["id"])] * 2)

    figures = {}
    for kind in (each_other, each_other, mixed, mixed, mixed):
        one, two = user(app), user(app)
        ws = new_workspace(app, one)
        add_member(app, one, ws, two, role="admin")
        assert admin_ids(app, one["token"], ws) == {one["id"], two["id"]}
        calls = kind(one, two) + kind(two, one)
        assert len(calls) == 20
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(lambda call: call().status_code, calls))
        tally = figures.setdefault(kind.__name__, {})
        for status in statuses:
            tally[status] = tally.get(status, 0) + 1
        assert set(statuses) <= {200, 204, 403, 404, 409}, statuses
        assert any(status in (200, 204) for status in statuses), statuses
        # Exactly one admin, seen by whichever of them is still in the workspace.
        remaining = [u for u in (one, two) if get(app, u["token"], ws).status_code == 200]
        assert remaining, "someone stays"
        admins = admin_ids(app, remaining[0]["token"], ws)
        assert len(admins) == 1 and admins <= {one["id"], two["id"]}, admins
    print(f"20 parallel demotions/removals per round, statuses by kind of round: "
          f"{ {k: sorted(v.items()) for k, v in figures.items()} }")


def test_an_invitation_is_used_once_even_by_ten_parallel_accepts(app):
    ann, bo, eve = user(app), user(app), user(app)
    ws = new_workspace(app, ann)
    token = invitation_token(app, ann, ws, bo)

    # Someone else's account cannot use it.
    assert_problem(accept(app, eve["token"], token), 403, "forbidden")
    with ThreadPoolExecutor(max_workers=10) as pool:
        resps = list(pool.map(lambda _i: accept(app, bo["token"], token), range(10)))
    statuses = sorted(r.status_code for r in resps)
    assert statuses.count(200) == 1, statuses
    for r in resps:
        if r.status_code != 200:
            assert_problem(r, 400, "invalid_invitation")
    assert app.d1_rows("SELECT COUNT(*) FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
                       (ws, bo["id"])) == [(1,)]
    assert_problem(accept(app, bo["token"], token), 400, "invalid_invitation")
    assert_problem(accept(app, bo["token"], "x" * 43), 400, "invalid_invitation")
    assert_problem(accept(app, bo["token"], "short"), 400, "invalid_invitation")
    print(f"10 parallel accepts of one invitation: statuses {statuses}")


def test_a_revoked_or_superseded_invitation_no_longer_works(app):
    ann, bo = user(app), user(app)
    ws = new_workspace(app, ann)
    first = invitation_token(app, ann, ws, bo)
    second_sent = assert_json(invite(app, ann["token"], ws, bo["email"], "admin"), 201)
    second = app.token_from_mail(app.wait_for_mail(bo["email"], "invited", count=2))
    assert second != first
    assert_problem(accept(app, bo["token"], first), 400, "invalid_invitation")

    assert revoke(app, ann["token"], ws, second_sent["id"]).status_code == 204
    assert_problem(revoke(app, ann["token"], ws, second_sent["id"]), 404)
    assert_problem(accept(app, bo["token"], second), 400, "invalid_invitation")
    assert_problem(get(app, bo["token"], ws), 404)
    assert "workspace_invitation_revoked" in audit_types(app, ann)


# ---------------------------------------------------------------- auto-join

def test_a_verified_user_at_the_auto_join_domain_joins_as_a_member_and_others_see_404(app):
    ann, bo = user(app), user(app)
    domain = bo["email"].rsplit("@", 1)[1]
    open_ws = new_workspace(app, ann, "Open", auto_join_domain=domain.upper())
    closed_ws = new_workspace(app, ann, "Closed", auto_join_domain="elsewhere.test")
    plain_ws = new_workspace(app, ann, "Plain")

    joined = assert_json(join(app, bo["token"], open_ws), 200)
    assert (joined["id"], joined["role"], joined["auto_join_domain"]) == (open_ws, "member", domain)
    assert assert_json(join(app, bo["token"], open_ws), 200)["role"] == "member"
    assert assert_json(join(app, ann["token"], open_ws), 200)["role"] == "admin"
    assert_problem(join(app, bo["token"], closed_ws), 404)
    assert_problem(join(app, bo["token"], plain_ws), 404)
    assert "workspace_joined" in audit_types(app, bo)
    # Switched off: no one else joins.
    assert_json(patch(app, ann["token"], open_ws, {"auto_join_domain": None}), 200)
    late = user(app)
    assert_problem(join(app, late["token"], open_ws), 404)
