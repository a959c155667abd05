"""Invite-only signup: referral keys made by an administrator (1-100 at a time, optionally bound to
an address), listed by status, checked without enumeration, and redeemed exactly once at
registration, even by 20 registrations at once. A server of its own with SIGNUP_MODE=invite_only
(the address in ADMIN_EMAILS registers without a key) and a low per-client limit on checks."""
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest

from e2e_support import assert_json, assert_problem, assert_uuid, b64url, from_ip, new_password, unique_email

ADMIN_EMAIL = unique_email("beta-admin")
CHECKS_PER_MINUTE = 5


@pytest.fixture(scope="module")
def beta_app(app_factory):
    return app_factory(SIGNUP_MODE="invite_only", ADMIN_EMAILS=ADMIN_EMAIL,
                       RATE_LIMIT_REFERRAL_CHECK_IP=f"{CHECKS_PER_MINUTE}/60")


@pytest.fixture(scope="module")
def admin(beta_app) -> str:
    _email, _password, login = beta_app.create_verified_user_with_email(ADMIN_EMAIL)
    return login["access_token"]


def make_keys(app, access, **body) -> list[dict]:
    return assert_json(app.post("/v1/admin/referral-keys", body, access=access), 201)["keys"]


def register(app, email, key=None, password=None, headers=None):
    body = {"email": email, "password": password or new_password()}
    if key is not None:
        body["referral_key"] = key
    return app.post("/v1/auth/register", body, headers=headers)


def check(app, key, ip=None):
    return app.post("/v1/auth/referral-keys/check", {"key": key}, headers=from_ip(ip))


def listed(app, access, status=None) -> dict:
    params = {"limit": 100, **({"status": status} if status else {})}
    return {k["id"]: k for k in assert_json(app.request("GET", "/v1/admin/referral-keys", access=access,
                                                          params=params), 200)["keys"]}


def test_invite_only_registration_needs_a_valid_key(beta_app, admin):
    assert_problem(register(beta_app, unique_email()), 403, "referral_required")
    assert_problem(register(beta_app, unique_email(), key="let-me-in"), 403, "referral_required")
    unknown = "ewr_" + b64url(secrets.token_bytes(32))
    assert_problem(register(beta_app, unique_email(), key=unknown), 403, "referral_required")


def test_a_key_registers_one_account_and_is_then_listed_as_used(beta_app, admin):
    keys = make_keys(beta_app, admin, count=2, note="wave 1")
    assert len(keys) == 2 and all(k["key"].startswith("ewr_") for k in keys)
    key, spare = keys
    assert assert_json(check(beta_app, key["key"]), 200) == {"valid": True}
    email, password = unique_email(), new_password()
    user = assert_json(register(beta_app, email, key["key"], password), 201)["user"]
    token = beta_app.token_from_mail(beta_app.wait_for_mail(email, "Verify"))
    assert_json(beta_app.verify_email(token), 200)
    assert_json(beta_app.login(email, password), 200)
    assert assert_json(check(beta_app, key["key"]), 200) == {"valid": False}
    assert_problem(register(beta_app, unique_email(), key["key"]), 403, "referral_required")
    used = listed(beta_app, admin, "used")
    assert used[key["id"]]["used_by"] == user["id"] and used[key["id"]]["note"] == "wave 1"
    assert key["key"].startswith(used[key["id"]]["hint"]) and len(used[key["id"]]["hint"]) < len(key["key"])
    unused = listed(beta_app, admin, "unused")
    assert spare["id"] in unused and key["id"] not in unused
    assert beta_app.stored_rows_containing(key["key"]) == [], "only the key's hash is stored"


def test_twenty_parallel_registrations_with_one_key_create_exactly_one_account(beta_app, admin):
    [key] = make_keys(beta_app, admin)
    emails = [unique_email("race") for _ in range(20)]
    with ThreadPoolExecutor(max_workers=len(emails)) as pool:
        responses = list(pool.map(lambda e: register(beta_app, e, key["key"]), emails))
    statuses = sorted(r.status_code for r in responses)
    print(f"20 parallel registrations with one key: statuses {statuses}")
    assert statuses.count(201) == 1, statuses
    for r in responses:
        if r.status_code != 201:
            assert_problem(r, 403, "referral_required")
    placeholders = ",".join("?" * len(emails))
    accounts = beta_app.d1_rows(f"SELECT id FROM users WHERE email IN ({placeholders})", tuple(emails))
    assert len(accounts) == 1
    used = beta_app.d1_rows("SELECT used_by FROM referral_keys WHERE id = ?", (key["id"],))
    assert used == [(accounts[0][0],)]


def test_a_key_bound_to_an_address_registers_only_that_address(beta_app, admin):
    bound_email = unique_email("invited")
    [key] = make_keys(beta_app, admin, email=bound_email.upper())
    assert key["email"] == bound_email
    assert_problem(register(beta_app, unique_email(), key["key"]), 403, "referral_required")
    assert_json(register(beta_app, bound_email, key["key"]), 201)


def test_a_taken_address_with_a_valid_key_answers_like_a_free_one_and_spends_the_key_alike(beta_app, admin):
    first, second = make_keys(beta_app, admin, count=2)
    email = unique_email()
    fresh = assert_json(register(beta_app, email, first["key"]), 201)
    taken = assert_json(register(beta_app, email, second["key"]), 201)
    assert set(fresh) == set(taken) == {"user"}
    assert set(fresh["user"]) == set(taken["user"])
    assert taken["user"]["status"] == "pending_verification"
    # The key is spent either way: its state is no oracle for registered addresses.
    assert assert_json(check(beta_app, first["key"]), 200) == {"valid": False}
    assert assert_json(check(beta_app, second["key"]), 200) == {"valid": False}
    used = listed(beta_app, admin, "used")
    assert used[first["id"]]["used_by"] == fresh["user"]["id"]
    assert used[second["id"]]["used_by"] is None, "a key spent on a taken address names no account"
    assert beta_app.wait_for_mail(email, "already", timeout=20)


def test_batches_are_1_to_100_and_only_administrators_make_or_list_them(beta_app, admin):
    assert len(make_keys(beta_app, admin, count=100)) == 100
    for bad in ({"count": 0}, {"count": 101}, {"count": 1, "email": "nope"}, {"count": 1, "extra": 1}):
        assert_problem(beta_app.post("/v1/admin/referral-keys", bad, access=admin), 400)
    assert_problem(beta_app.request("GET", "/v1/admin/referral-keys", access=admin,
                                    params={"status": "spent"}), 400)
    [key] = make_keys(beta_app, admin)
    email, password = unique_email(), new_password()
    assert_json(register(beta_app, email, key["key"], password), 201)
    assert_json(beta_app.verify_email(beta_app.token_from_mail(beta_app.wait_for_mail(email, "Verify"))), 200)
    plain = assert_json(beta_app.login(email, password), 200)["access_token"]
    assert_problem(beta_app.post("/v1/admin/referral-keys", {"count": 1}, access=plain), 403, "forbidden")
    assert_problem(beta_app.request("GET", "/v1/admin/referral-keys", access=plain), 403, "forbidden")


def test_checks_are_rate_limited_per_client_and_look_alike_for_unknown_and_used_keys(beta_app, admin):
    [used] = make_keys(beta_app, admin)
    assert_json(register(beta_app, unique_email(), used["key"]), 201)
    unknown = "ewr_" + b64url(secrets.token_bytes(32))
    ip = "100.64.77." + str(1 + secrets.randbelow(250))
    answers = [check(beta_app, k, ip) for k in (unknown, used["key"])]
    assert [r.json() for r in answers] == [{"valid": False}, {"valid": False}]
    assert answers[0].headers.keys() == answers[1].headers.keys()
    codes = [check(beta_app, unknown, ip).status_code for _ in range(CHECKS_PER_MINUTE)]
    assert codes[-1] == 429 and codes.count(200) == CHECKS_PER_MINUTE - 2, codes
    assert_json(check(beta_app, unknown), 200)  # another client is not affected


def test_an_admin_address_registers_without_a_key(beta_app, admin):
    listed_users = assert_json(beta_app.request("GET", "/v1/admin/users", access=admin,
                                                params={"query": ADMIN_EMAIL}), 200)["users"]
    assert [u["role"] for u in listed_users] == ["admin"]
    assert_uuid(listed_users[0]["id"])
