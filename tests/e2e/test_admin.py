"""The admin API: the stored role and its ADMIN_EMAILS bootstrap, user search and actions, a
user's sessions and audit log, stats, on-demand key rotation, service API keys, and the
last-admin guard under concurrency. Two servers of its own: `admin_app` (one bootstrapped
admin, a low lockout threshold, a low per-key rate limit) and, per race test, a fresh one."""
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pyotp
import pytest

from e2e_support import (assert_json, assert_problem, assert_uuid, b64url, decode_unverified, new_password,
                         unique_email)

ADMIN_EMAIL = unique_email("root")
KEY_RATE = 5  # requests per minute per API key on admin_app


@pytest.fixture(scope="module")
def admin_app(app_factory):
    return app_factory(ADMIN_EMAILS=f"nobody@example.test, {ADMIN_EMAIL.upper()}",
                       KEY_ENCRYPTION_KEY=b64url(secrets.token_bytes(32)),
                       LOCKOUT_THRESHOLD=3, LOCKOUT_BASE_SECONDS=600, LOCKOUT_MAX_SECONDS=600,
                       RATE_LIMIT_API_KEY=f"{KEY_RATE}/60")


@pytest.fixture(scope="module")
def root(admin_app) -> dict:
    """The TokenResponse of the bootstrapped administrator."""
    _email, _password, login = admin_app.create_verified_user_with_email(ADMIN_EMAIL, name="Root")
    return login


def admin_get(app, access, path, **kw):
    return app.request("GET", path, access=access, **kw)


def act(app, access, user_id, action):
    return app.request("POST", f"/v1/admin/users/{user_id}/{action}", access=access)


def new_api_key(app, access, scopes, name="ci", expires_at=None) -> dict:
    body = {"name": name, "scopes": scopes}
    if expires_at is not None:
        body["expires_at"] = expires_at
    created = assert_json(app.post("/v1/admin/api-keys", body, access=access), 201)
    assert created["key"].startswith("ewk_") and len(created["key"]) == 47
    return created


def audit_of(app, access, user_id) -> list[dict]:
    return assert_json(admin_get(app, access, f"/v1/admin/users/{user_id}/audit"), 200)["events"]


def test_a_listed_address_is_admin_after_verification_and_everyone_else_gets_403(admin_app, root):
    me = assert_json(admin_get(admin_app, root["access_token"], f"/v1/admin/users/{root['user']['id']}"), 200)
    assert me["role"] == "admin" and me["email"] == ADMIN_EMAIL
    _email, _password, plain = admin_app.verified_user()
    access, uid = plain["access_token"], plain["user"]["id"]
    refused = [
        ("GET", "/v1/admin/users", None), ("GET", f"/v1/admin/users/{uid}", None),
        ("POST", f"/v1/admin/users/{uid}/promote", None), ("GET", f"/v1/admin/users/{uid}/sessions", None),
        ("DELETE", f"/v1/admin/users/{uid}/sessions", None), ("GET", f"/v1/admin/users/{uid}/audit", None),
        ("GET", "/v1/admin/stats", None), ("POST", "/v1/admin/keys/rotate", None),
        ("GET", "/v1/admin/api-keys", None), ("POST", "/v1/admin/api-keys", {"name": "x", "scopes": ["admin:read"]}),
        ("GET", "/v1/admin/referral-keys", None), ("POST", "/v1/admin/referral-keys", {"count": 1}),
        ("GET", "/v1/admin/jobs/stats", None), ("POST", "/v1/admin/credits", {"user_id": uid, "amount": 5}),
        ("DELETE", f"/v1/admin/users/{uid}/mfa", None),
    ]
    for method, path, body in refused:
        assert_problem(admin_app.request(method, path, json_body=body, access=access), 403, "forbidden")
    assert_problem(admin_app.get("/v1/admin/users"), 401, "invalid_token")


def test_the_search_finds_users_by_email_name_and_status_page_by_page(admin_app, root):
    tag = secrets.token_hex(4)
    users = [admin_app.create_verified_user(name=f"Pat {tag} {i}")[2]["user"] for i in range(3)]
    access = root["access_token"]
    seen, cursor = [], None
    for _ in range(3):
        params = {"query": tag.upper(), "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = assert_json(admin_get(admin_app, access, "/v1/admin/users", params=params), 200)
        seen += [u["id"] for u in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [u["id"] for u in reversed(users)], "newest first, each once"
    by_email = assert_json(admin_get(admin_app, access, "/v1/admin/users", params={"query": users[0]["email"]}), 200)
    assert [u["id"] for u in by_email["users"]] == [users[0]["id"]]
    assert by_email["users"][0]["role"] == "user"
    assert_json(act(admin_app, access, users[1]["id"], "deactivate"), 200)
    deactivated = assert_json(admin_get(admin_app, access, "/v1/admin/users",
                                        params={"query": tag, "status": "deactivated"}), 200)
    assert [u["id"] for u in deactivated["users"]] == [users[1]["id"]]
    wildcard = assert_json(admin_get(admin_app, access, "/v1/admin/users", params={"query": "%"}), 200)
    assert wildcard["users"] == [], "LIKE wildcards match literally"
    assert_problem(admin_get(admin_app, access, "/v1/admin/users", params={"status": "banned"}), 400)
    assert_problem(admin_get(admin_app, access, "/v1/admin/users", params={"cursor": "x1"}), 400)


def test_deactivate_and_activate_stop_and_restore_access_and_name_the_admin_in_the_audit_log(admin_app, root):
    email, password, login = admin_app.create_verified_user()
    uid, access = login["user"]["id"], login["access_token"]
    body = assert_json(act(admin_app, root["access_token"], uid, "deactivate"), 200)
    assert body["status"] == "deactivated"
    assert admin_app.me(access).status_code == 401, "the user's tokens stop at once"
    assert_problem(admin_app.login(email, password), 403, "account_deactivated")
    assert assert_json(act(admin_app, root["access_token"], uid, "activate"), 200)["status"] == "active"
    # Activating an active account is already done: 200, and nothing more in the log.
    assert assert_json(act(admin_app, root["access_token"], uid, "activate"), 200)["status"] == "active"
    assert_json(admin_app.login(email, password), 200)
    events = audit_of(admin_app, root["access_token"], uid)
    admin_events = [e for e in events if e["type"] in ("admin_deactivated", "admin_activated")]
    assert [e["type"] for e in admin_events] == ["admin_activated", "admin_deactivated"]
    for e in admin_events:
        assert e["actor"] == {"type": "user", "id": root["user"]["id"]}
    assert all("actor" not in e for e in events if e["type"] == "login_succeeded")


def test_unknown_and_malformed_user_ids_are_404(admin_app, root):
    for uid in ("00000000-0000-4000-8000-000000000000", "not-an-id"):
        assert_problem(admin_get(admin_app, root["access_token"], f"/v1/admin/users/{uid}"), 404)
        assert_problem(act(admin_app, root["access_token"], uid, "promote"), 404)


def test_unlock_clears_a_lockout(admin_app, root):
    email, password, login = admin_app.create_verified_user()
    for _ in range(3):
        assert_problem(admin_app.login(email, "wrong-" + new_password()), 401, "invalid_credentials")
    assert_problem(admin_app.login(email, password), 401, "invalid_credentials")  # locked
    assert_json(act(admin_app, root["access_token"], login["user"]["id"], "unlock"), 200)
    assert_json(admin_app.login(email, password), 200)
    types = [e["type"] for e in audit_of(admin_app, root["access_token"], login["user"]["id"])]
    assert "admin_unlocked" in types


def test_an_admin_lists_and_revokes_every_session_of_a_user(admin_app, root):
    email, password, first = admin_app.create_verified_user()
    second = assert_json(admin_app.login(email, password), 200)
    uid = first["user"]["id"]
    listed = assert_json(admin_get(admin_app, root["access_token"], f"/v1/admin/users/{uid}/sessions"), 200)
    assert {s["id"] for s in listed["sessions"]} == {first["session_id"], second["session_id"]}
    assert not any(s["current"] for s in listed["sessions"])
    done = assert_json(admin_app.request("DELETE", f"/v1/admin/users/{uid}/sessions",
                                         access=root["access_token"]), 200)
    assert done["revoked"] == 2
    for login in (first, second):
        assert_problem(admin_app.me(login["access_token"]), 401, "session_revoked")
        assert_problem(admin_app.refresh(login["refresh_token"]), 401)
    revoked = [e for e in audit_of(admin_app, root["access_token"], uid) if e["type"] == "admin_sessions_revoked"]
    assert revoked and revoked[0]["actor"]["id"] == root["user"]["id"]


def test_promote_grants_the_admin_api_and_demote_takes_it_away_on_the_next_request(admin_app, root):
    _email, _password, login = admin_app.create_verified_user()
    uid, access = login["user"]["id"], login["access_token"]
    assert_problem(admin_get(admin_app, access, "/v1/admin/stats"), 403, "forbidden")
    assert assert_json(act(admin_app, root["access_token"], uid, "promote"), 200)["role"] == "admin"
    assert_json(admin_get(admin_app, access, "/v1/admin/stats"), 200)
    assert assert_json(act(admin_app, access, uid, "promote"), 200)["role"] == "admin", "idempotent"
    assert assert_json(act(admin_app, root["access_token"], uid, "demote"), 200)["role"] == "user"
    assert_problem(admin_get(admin_app, access, "/v1/admin/stats"), 403, "forbidden")
    types = [e["type"] for e in audit_of(admin_app, root["access_token"], uid)]
    assert types[:2] == ["role_demoted", "role_promoted"]


def test_stats_count_users_sessions_jobs_and_credits(admin_app, root):
    stats = assert_json(admin_get(admin_app, root["access_token"], "/v1/admin/stats"), 200)
    users = stats["users"]
    assert users["total"] == sum(users["by_status"].values()) == sum(users["by_role"].values())
    assert users["by_role"]["admin"] >= 1 and users["by_status"]["active"] >= 1
    assert stats["sessions"]["active"] >= 1
    assert set(stats["jobs"]["by_status"]) == {"queued", "running", "succeeded", "failed"}
    _email, _password, rich = admin_app.create_verified_user()
    assert_json(admin_app.post("/v1/admin/credits", {"user_id": rich["user"]["id"], "amount": 70},
                               access=root["access_token"]), 201)
    after = assert_json(admin_get(admin_app, root["access_token"], "/v1/admin/stats"), 200)
    assert after["credits"]["outstanding"] == stats["credits"]["outstanding"] + 70
    assert after["users"]["total"] == users["total"] + 1
    grants = [e for e in audit_of(admin_app, root["access_token"], rich["user"]["id"])
              if e["type"] == "credits_granted"]
    assert grants[0]["actor"] == {"type": "user", "id": root["user"]["id"]}


def test_an_on_demand_rotation_publishes_a_key_and_the_next_one_makes_it_sign(admin_app, root):
    first = assert_json(admin_app.post("/v1/admin/keys/rotate", access=root["access_token"]), 200)
    kid = first["published"]
    assert kid and first["activated"] is None
    assert kid in {k["kid"] for k in assert_json(admin_app.jwks(), 200)["keys"]}
    time.sleep(1.1)  # a key never signs in the second it was made
    second = assert_json(admin_app.post("/v1/admin/keys/rotate", access=root["access_token"]), 200)
    assert second["activated"] == kid and second["published"] is None and second["retired"]
    _email, _password, login = admin_app.create_verified_user()
    header, _claims = decode_unverified(login["access_token"])
    assert header["kid"] == kid
    assert_json(admin_app.me(root["access_token"]), 200), "tokens of the retired key still verify"


def test_an_api_key_acts_within_its_scopes_and_the_audit_log_names_it(admin_app, root):
    reader = new_api_key(admin_app, root["access_token"], ["admin:read"], name="reader")
    writer = new_api_key(admin_app, root["access_token"], ["admin:write", "admin:read"], name="writer")
    _email, _password, login = admin_app.create_verified_user()
    uid = login["user"]["id"]
    assert_json(admin_get(admin_app, reader["key"], f"/v1/admin/users/{uid}"), 200)
    assert_problem(act(admin_app, reader["key"], uid, "deactivate"), 403, "forbidden")
    assert_problem(admin_app.post("/v1/admin/credits", {"user_id": uid, "amount": 1}, access=reader["key"]),
                   403, "forbidden")
    assert_json(act(admin_app, writer["key"], uid, "deactivate"), 200)
    event = [e for e in audit_of(admin_app, root["access_token"], uid) if e["type"] == "admin_deactivated"][0]
    assert event["actor"] == {"type": "api_key", "id": writer["id"]}
    # A key never manages keys, whatever its scopes.
    assert_problem(admin_app.post("/v1/admin/api-keys", {"name": "x", "scopes": ["admin:read"]},
                                  access=writer["key"]), 403, "forbidden")
    listed = assert_json(admin_get(admin_app, root["access_token"], "/v1/admin/api-keys"), 200)["api_keys"]
    mine = {k["id"]: k for k in listed}
    assert mine[reader["id"]]["scopes"] == ["admin:read"]
    assert "key" not in mine[reader["id"]]
    assert admin_app.stored_rows_containing(writer["key"]) == [], "only the key's hash is stored"
    assert_problem(admin_app.post("/v1/admin/api-keys", {"name": "x", "scopes": ["root"]},
                                  access=root["access_token"]), 400)


def test_revoked_and_expired_api_keys_are_refused(admin_app, root):
    soon = (datetime.now(timezone.utc) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    expiring = new_api_key(admin_app, root["access_token"], ["admin:read"], expires_at=soon)
    revoked = new_api_key(admin_app, root["access_token"], ["admin:read"])
    assert_json(admin_get(admin_app, expiring["key"], "/v1/admin/stats"), 200)
    assert_json(admin_get(admin_app, revoked["key"], "/v1/admin/stats"), 200)
    resp = admin_app.request("DELETE", f"/v1/admin/api-keys/{revoked['id']}", access=root["access_token"])
    assert resp.status_code == 204, resp.text
    assert_problem(admin_get(admin_app, revoked["key"], "/v1/admin/stats"), 401, "invalid_token")
    time.sleep(4.2)
    assert_problem(admin_get(admin_app, expiring["key"], "/v1/admin/stats"), 401, "invalid_token")
    forged = "ewk_" + b64url(secrets.token_bytes(32))
    assert_problem(admin_get(admin_app, forged, "/v1/admin/stats"), 401, "invalid_token")
    assert_problem(admin_app.request("DELETE", "/v1/admin/api-keys/00000000-0000-4000-8000-000000000000",
                                     access=root["access_token"]), 404)
    types = [e["type"] for e in admin_app.audit_events(root["access_token"])]
    assert "api_key_created" in types and "api_key_revoked" in types


def test_each_api_key_is_rate_limited_on_its_own(admin_app, root):
    one = new_api_key(admin_app, root["access_token"], ["admin:read"])
    other = new_api_key(admin_app, root["access_token"], ["admin:read"])
    codes = [admin_get(admin_app, one["key"], "/v1/admin/stats").status_code for _ in range(KEY_RATE + 2)]
    assert codes[:KEY_RATE] == [200] * KEY_RATE and codes[KEY_RATE:] == [429, 429], codes
    assert_json(admin_get(admin_app, other["key"], "/v1/admin/stats"), 200)


# ---------------------------------------------------------------- the last-admin guard


def test_the_last_admin_cannot_be_demoted_and_parallel_demotions_of_two_leave_one(app_factory):
    first_email = unique_email("first")
    app = app_factory(ADMIN_EMAILS=first_email)
    _e, first_password, first = app.create_verified_user_with_email(first_email)
    a = first["access_token"]
    assert_problem(act(app, a, first["user"]["id"], "demote"), 409, "last_admin")
    assert_problem(act(app, a, first["user"]["id"], "deactivate"), 409, "last_admin")
    _email, _password, second = app.create_verified_user()
    assert_json(act(app, a, second["user"]["id"], "promote"), 200)
    b = second["access_token"]
    # Five demotions each way, at once: whoever goes second finds no other admin left.
    calls = [(a, second["user"]["id"])] * 5 + [(b, first["user"]["id"])] * 5
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        statuses = list(pool.map(lambda c: act(app, c[0], c[1], "demote").status_code, calls))
    admins = app.d1_rows("SELECT id FROM users WHERE role = 'admin'")
    print(f"parallel demotions: statuses {sorted(statuses)}; admins left {len(admins)}")
    assert len(admins) == 1, statuses
    assert set(statuses) <= {200, 403, 409}, statuses
    # A demoted bootstrap admin stays demoted when it signs in again.
    if admins[0][0] == second["user"]["id"]:
        assert_json(app.login(first_email, first_password), 200)
        again = app.d1_rows("SELECT role FROM users WHERE id = ?", (first["user"]["id"],))
        assert again == [("user",)]


def test_ten_parallel_demotions_by_api_key_among_two_admins_leave_exactly_one(app_factory):
    """Keys keep their authority whoever is demoted, so every one of the ten demotions reaches
    the guarded statement: the statement alone decides."""
    first_email = unique_email("first")
    app = app_factory(ADMIN_EMAILS=first_email)
    _e, _p, first = app.create_verified_user_with_email(first_email)
    _email, _password, second = app.create_verified_user()
    assert_json(act(app, first["access_token"], second["user"]["id"], "promote"), 200)
    key = new_api_key(app, first["access_token"], ["admin:write"])["key"]
    targets = [first["user"]["id"], second["user"]["id"]] * 5
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        results = list(pool.map(lambda uid: (uid, act(app, key, uid, "demote")), targets))
    admins = app.d1_rows("SELECT id FROM users WHERE role = 'admin'")
    statuses = sorted(r.status_code for _uid, r in results)
    print(f"parallel demotions by API key: statuses {statuses}; admins left {len(admins)}")
    assert len(admins) == 1, statuses
    survivor = admins[0][0]
    for uid, resp in results:
        if uid == survivor:
            assert_problem(resp, 409, "last_admin")
        else:
            assert assert_json(resp, 200)["role"] == "user"


def test_a_purged_administrator_and_a_purged_referred_account_leave_no_trace_in_admin_records(app_factory):
    root_email = unique_email("purge-root")
    app = app_factory(ADMIN_EMAILS=root_email, DELETION_GRACE_SECONDS=0)
    _e, _p, root = app.create_verified_user_with_email(root_email)
    helper_email, helper_password, helper = app.create_verified_user(name="Helper")
    assert_json(act(app, root["access_token"], helper["user"]["id"], "promote"), 200)
    new_api_key(app, helper["access_token"], ["admin:read"])
    [key] = assert_json(app.post("/v1/admin/referral-keys", {"count": 1}, access=helper["access_token"]), 201)["keys"]
    invitee_email, invitee_password = unique_email("invitee"), new_password()
    invitee = assert_json(app.post("/v1/auth/register", {"email": invitee_email, "password": invitee_password,
                                                          "referral_key": key["key"]}), 201)["user"]
    _e2, _p2, bystander = app.create_verified_user()
    assert_json(act(app, helper["access_token"], bystander["user"]["id"], "deactivate"), 200)
    assert_json(app.delete_me(helper["access_token"], helper_password), 202)
    time.sleep(1.5)
    app.run_cron(at=time.time() + 30 * 86_400)  # the unverified invitee is long stale by then

    left = app.stored_rows_containing(helper["user"]["id"], helper_email, invitee["id"], invitee_email)
    assert left == [], "\n".join(left)
    events = audit_of(app, root["access_token"], bystander["user"]["id"])
    actor = [e["actor"] for e in events if e["type"] == "admin_deactivated"][0]
    assert actor["type"] == "user" and actor["id"].startswith("deleted:")


def test_an_admin_resets_a_users_lost_second_factor_the_user_is_told_and_it_is_audited(admin_app, root):
    email, password, login = admin_app.create_verified_user()
    uid, access = login["user"]["id"], login["access_token"]
    started = assert_json(admin_app.post("/v1/me/mfa/totp", {}, access=access), 201)
    totp = pyotp.parse_uri(started["otpauth_uri"])
    assert_json(admin_app.post("/v1/me/mfa/totp/confirm", {"code": totp.now()}, access=access), 200)
    waiting = assert_json(admin_app.login(email, password), 200)
    assert waiting["mfa_required"] is True

    # Somebody else's reset is refused; the admin's removes the factor at once.
    other = admin_app.verified_user()[2]["access_token"]
    assert_problem(admin_app.request("DELETE", f"/v1/admin/users/{uid}/mfa", access=other), 403, "forbidden")
    assert admin_app.request("DELETE", f"/v1/admin/users/{uid}/mfa", access=root["access_token"]).status_code == 204

    # The password alone signs in now, and the sign-in that waited for the old factor is dead.
    after = assert_json(admin_app.login(email, password), 200)
    assert "access_token" in after and "mfa_required" not in after
    assert_problem(admin_app.post("/v1/auth/mfa/verify", {"mfa_token": waiting["mfa_token"], "code": totp.now()}),
                   401, "invalid_mfa_token")
    # The user's session survived.
    assert_json(admin_app.get("/v1/me", access=access), 200)

    mail = admin_app.wait_for_mail(email, "second factors were reset")
    assert "administrator" in mail["text"]
    resets = [e for e in audit_of(admin_app, root["access_token"], uid) if e["type"] == "second_factors_reset"]
    assert len(resets) == 1 and resets[0]["actor"] == {"type": "user", "id": root["user"]["id"]}

    # A reset with nothing left is still audited (it is an admin action) but mails nobody.
    assert admin_app.request("DELETE", f"/v1/admin/users/{uid}/mfa", access=root["access_token"]).status_code == 204
    admin_app.mail_barrier()
    assert admin_app.count_mail(email, "second factors were reset") == 1
    resets = [e for e in audit_of(admin_app, root["access_token"], uid) if e["type"] == "second_factors_reset"]
    assert len(resets) == 2
    assert_problem(admin_app.request("DELETE", f"/v1/admin/users/{secrets.token_hex(4)}/mfa",
                                     access=root["access_token"]), 404, "not_found")
