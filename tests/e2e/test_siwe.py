"""Sign in with Ethereum (EIP-4361), end to end, with messages signed by a real wallet library
(`eth-account` from PyPI, pinned in tests/requirements.txt): sign-up and sign-in in bearer and
cookie mode; the nonce single use, also under parallel submissions of one message; every field
of the message checked (domain, URI, chain id, times, EIP-55 address); signatures by another
address, malformed or malleable; linking, listing and unlinking wallets, one owner per wallet,
and the last way to sign in kept; the second factor of an account that has one; and the admin
lookup of an account by wallet or by external identity."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pyotp
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from e2e_support import assert_json, assert_problem, unique_email
from fake_jwks import FakeJwks
from oidc_support import set_cookies

ACCESS = "__Host-ew_access"
REFRESH = "__Secure-ew_refresh"
ADMIN_EMAIL = unique_email("siwe-root")
# The order of the secp256k1 group: a signature's `s` above n/2 is the malleable twin.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture(scope="module")
def jwt_idp():
    fake = FakeJwks(issuer="https://idp.example.test", audience="edgeward-siwe")
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def app(app_factory, jwt_idp):
    import json
    providers = {"privy": {"type": "jwt", "issuer": jwt_idp.issuer, "jwks_uri": f"{jwt_idp.url}/jwks.json",
                           "audience": jwt_idp.audience}}
    return app_factory(ADMIN_EMAILS=ADMIN_EMAIL, AUTH_PROVIDERS=json.dumps(providers),
                       SIWE_DOMAINS="wallet.example.test", SIWE_CHAIN_IDS="1,10")


@pytest.fixture(scope="module")
def root(app) -> dict:
    _email, _password, login = app.create_verified_user_with_email(ADMIN_EMAIL, name="Root")
    return login


def domain_of(app) -> str:
    return urlsplit(app.base_url).netloc


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def message(app, address: str, nonce: str, *, domain: str | None = None, uri: str | None = None,
            chain_id: int = 1, issued_at: datetime | None = None, expiration: datetime | None = None,
            not_before: datetime | None = None, version: str = "1",
            statement: str | None = "Sign in to the Edgeward e2e app.") -> str:
    """An EIP-4361 message laid out as its ABNF says (viem's `createSiweMessage` layout)."""
    domain = domain or domain_of(app)
    uri = uri or f"http://{domain}/login"
    lines = [f"{domain} wants you to sign in with your Ethereum account:", address, ""]
    # With a statement: address, blank, statement, blank, URI; without: address, blank, blank, URI.
    lines += [statement, ""] if statement is not None else [""]
    lines += [f"URI: {uri}", f"Version: {version}", f"Chain ID: {chain_id}", f"Nonce: {nonce}",
              f"Issued At: {iso(issued_at or datetime.now(timezone.utc))}"]
    if expiration is not None:
        lines.append(f"Expiration Time: {iso(expiration)}")
    if not_before is not None:
        lines.append(f"Not Before: {iso(not_before)}")
    return "\n".join(lines)


def sign(acct, text: str) -> str:
    return "0x" + Account.sign_message(encode_defunct(text=text), acct.key).signature.hex()


def new_nonce(app) -> str:
    body = assert_json(app.post("/v1/auth/siwe/nonce"), 200)
    nonce = body["nonce"]
    assert len(nonce) >= 8 and nonce.isalnum(), nonce
    return nonce


def verify(app, text: str, signature: str, **extra):
    return app.post("/v1/auth/siwe/verify", {"message": text, "signature": signature, **extra})


def sign_in(app, acct, **extra):
    text = message(app, acct.address, new_nonce(app))
    return verify(app, text, sign(acct, text), **extra)


def link_wallet(app, access: str, acct, **kw):
    text = message(app, acct.address, new_nonce(app), **kw)
    return app.post("/v1/me/wallets", {"message": text, "signature": sign(acct, text)}, access=access)


def wallets(app, access: str) -> list[dict]:
    return assert_json(app.get("/v1/me/wallets", access=access), 200)["wallets"]


def test_a_new_wallet_signs_up_and_signs_in_again_to_the_same_account(app):
    acct = Account.create()
    first = assert_json(sign_in(app, acct, device_name="wallet"), 200)
    assert first["token_type"] == "Bearer" and first["access_token"] and first["refresh_token"]
    access = first["access_token"]
    me = assert_json(app.get("/v1/me", access=access), 200)
    assert me["id"] == first["user"]["id"]
    assert me["email"].endswith("@external-identity.invalid"), me["email"]
    listed = wallets(app, access)
    assert [(w["address"], w["chain_id"]) for w in listed] == [(acct.address, 1)]
    again = assert_json(sign_in(app, acct), 200)
    assert again["user"]["id"] == first["user"]["id"]
    types = [e["type"] for e in app.audit_events(access)]
    assert {"register", "wallet_linked", "siwe_signed_in", "login_succeeded"} <= set(types), types
    assert types.count("siwe_signed_in") == 2, types


def test_a_message_without_a_statement_and_on_an_extra_domain_and_chain_signs_in(app):
    acct = Account.create()
    text = message(app, acct.address, new_nonce(app), domain="wallet.example.test", chain_id=10, statement=None)
    assert "\n\n\nURI: " in text
    assert_json(verify(app, text, sign(acct, text)), 200)
    listed = wallets(app, assert_json(sign_in(app, acct), 200)["access_token"])
    assert listed[0]["chain_id"] == 1, "the chain of the last sign-in"


def test_cookie_mode_sets_the_session_cookies_and_no_token_in_the_body(app):
    acct = Account.create()
    resp = sign_in(app, acct, mode="cookie")
    body = assert_json(resp, 200)
    assert "access_token" not in body and "refresh_token" not in body, body
    jar = set_cookies(resp)
    assert {ACCESS, REFRESH} <= set(jar), jar
    me = app.get("/v1/me", headers={"Cookie": f"{ACCESS}={jar[ACCESS]}"})
    assert assert_json(me, 200)["id"] == body["user"]["id"]


def test_a_nonce_signs_in_once_and_an_unknown_one_never(app):
    acct = Account.create()
    text = message(app, acct.address, new_nonce(app))
    signature = sign(acct, text)
    assert_json(verify(app, text, signature), 200)
    assert_problem(verify(app, text, signature), 401, "invalid_siwe_message")
    made_up = message(app, acct.address, uuid.uuid4().hex)
    assert_problem(verify(app, made_up, sign(acct, made_up)), 401, "invalid_siwe_message")


def test_parallel_verifications_of_one_message_have_exactly_one_winner(app):
    acct = Account.create()
    text = message(app, acct.address, new_nonce(app))
    signature = sign(acct, text)
    n = 8
    barrier = threading.Barrier(n)
    results: list[int] = []
    lock = threading.Lock()

    def go():
        barrier.wait()
        resp = verify(app, text, signature)
        with lock:
            results.append(resp.status_code)
        if resp.status_code != 200:
            assert_problem(resp, 401, "invalid_siwe_message")

    threads = [threading.Thread(target=go) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [401] * (n - 1), results


def test_parallel_first_sign_ins_of_one_wallet_open_one_account(app):
    acct = Account.create()
    texts = [message(app, acct.address, new_nonce(app)) for _ in range(4)]
    barrier = threading.Barrier(len(texts))
    users: list[str] = []
    lock = threading.Lock()

    def go(text):
        barrier.wait()
        body = assert_json(verify(app, text, sign(acct, text)), 200)
        with lock:
            users.append(body["user"]["id"])

    threads = [threading.Thread(target=go, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(users) == len(texts) and len(set(users)) == 1, users
    assert app.d1_rows("SELECT user_id FROM wallets WHERE address = ?", (acct.address.lower(),)) == [(users[0],)]
    # The losers of the race opened no account of their own (one without a wallet to sign in with).
    assert app.d1_rows("SELECT id FROM users WHERE email LIKE 'ethereum.%' "
                       "AND id NOT IN (SELECT user_id FROM wallets)") == []


@pytest.mark.parametrize("case", [
    "wrong_domain", "wrong_uri", "uri_on_a_lookalike_host", "expired", "not_yet_valid", "issued_in_the_future",
    "issued_too_long_ago", "bad_chain_id", "version_2", "non_checksummed_address",
])
def test_a_message_with_a_wrong_field_is_refused_and_leaves_its_nonce_unspent(app, case):
    acct = Account.create()
    nonce = new_nonce(app)
    now = datetime.now(timezone.utc)
    address = acct.address
    kw = {
        "wrong_domain": {"domain": "evil.example.test", "uri": "http://evil.example.test/login"},
        "wrong_uri": {"uri": "https://evil.example.test/login"},
        "uri_on_a_lookalike_host": {"uri": f"http://{domain_of(app)}.evil.example.test/"},
        "expired": {"expiration": now - timedelta(minutes=5)},
        "not_yet_valid": {"not_before": now + timedelta(minutes=10)},
        "issued_in_the_future": {"issued_at": now + timedelta(minutes=10)},
        "issued_too_long_ago": {"issued_at": now - timedelta(minutes=30)},
        "bad_chain_id": {"chain_id": 5},
        "version_2": {"version": "2"},
        "non_checksummed_address": {},
    }[case]
    if case == "non_checksummed_address":
        address = address.lower()
    text = message(app, address, nonce, **kw)
    assert_problem(verify(app, text, sign(acct, text)), 401, "invalid_siwe_message")
    # Refused before the nonce was taken: the right message with it still signs in.
    good = message(app, acct.address, nonce)
    assert_json(verify(app, good, sign(acct, good)), 200)


def test_a_signature_by_another_address_or_malformed_or_malleable_is_refused(app):
    acct, other = Account.create(), Account.create()
    nonce = new_nonce(app)
    text = message(app, acct.address, nonce)
    assert_problem(verify(app, text, sign(other, text)), 401, "invalid_signature")
    good = sign(acct, text)
    for bad in (good[2:], good[:-2], "0x" + "00" * 65, good[:-2] + "1d", "0xnothex"):
        assert_problem(verify(app, text, bad), 401, "invalid_signature")
    r, s, v = int(good[2:66], 16), int(good[66:130], 16), int(good[130:], 16)
    twin = "0x" + f"{r:064x}{SECP256K1_N - s:064x}{55 - v:02x}"
    assert_problem(verify(app, text, twin), 401, "invalid_signature")
    # None of them spent the nonce.
    assert_json(verify(app, text, good), 200)


def test_malformed_bodies_are_400(app):
    acct = Account.create()
    text = message(app, acct.address, new_nonce(app))
    assert_problem(app.post("/v1/auth/siwe/verify", {"message": text}), 400)
    assert_problem(app.post("/v1/auth/siwe/verify", {"message": text, "signature": sign(acct, text), "x": 1}), 400)
    assert_problem(app.post("/v1/auth/siwe/verify", {"message": text, "signature": sign(acct, text),
                                                     "mode": "carrier-pigeon"}), 400)


def test_wallets_are_linked_listed_and_unlinked_and_belong_to_one_account(app):
    _email, _password, login = app.create_verified_user()
    access = login["access_token"]
    acct = Account.create()
    linked = assert_json(link_wallet(app, access, acct), 201)
    assert linked["address"] == acct.address and linked["chain_id"] == 1
    again = assert_json(link_wallet(app, access, acct), 201)
    assert again["address"] == acct.address
    assert [w["address"] for w in wallets(app, access)] == [acct.address]
    # The wallet now signs in to this account.
    assert assert_json(sign_in(app, acct), 200)["user"]["id"] == login["user"]["id"]

    _e2, _p2, other = app.create_verified_user()
    assert_problem(link_wallet(app, other["access_token"], acct), 409, "wallet_taken")
    # A wallet that signed up on its own is taken too.
    loner = Account.create()
    assert_json(sign_in(app, loner), 200)
    assert_problem(link_wallet(app, access, loner), 409, "wallet_taken")

    stranger = Account.create()
    text = message(app, stranger.address, new_nonce(app))
    assert_problem(app.post("/v1/me/wallets", {"message": text, "signature": sign(acct, text)}, access=access),
                   401, "invalid_signature")
    assert_problem(app.request("DELETE", f"/v1/me/wallets/{acct.address}", access=other["access_token"]), 404)
    assert_problem(app.request("DELETE", "/v1/me/wallets/0x1234", access=access), 404)
    # Any case: the path names the address, not its spelling.
    assert app.request("DELETE", f"/v1/me/wallets/{acct.address.lower()}", access=access).status_code == 204
    assert wallets(app, access) == []
    assert_problem(app.request("DELETE", f"/v1/me/wallets/{acct.address}", access=access), 404)
    types = [e["type"] for e in app.audit_events(access)]
    assert "wallet_linked" in types and "wallet_unlinked" in types, types
    assert_problem(app.get("/v1/me/wallets"), 401)


def test_the_last_way_to_sign_in_cannot_be_unlinked(app, jwt_idp):
    acct, second = Account.create(), Account.create()
    access = assert_json(sign_in(app, acct), 200)["access_token"]
    assert_problem(app.request("DELETE", f"/v1/me/wallets/{acct.address}", access=access), 409, "last_login_method")
    assert_json(link_wallet(app, access, second), 201)
    assert app.request("DELETE", f"/v1/me/wallets/{acct.address}", access=access).status_code == 204
    assert_problem(app.request("DELETE", f"/v1/me/wallets/{second.address}", access=access), 409, "last_login_method")

    # An external identity and a wallet: either may go while the other stays.
    sub = f"did:privy:{uuid.uuid4().hex}"
    ext = assert_json(app.post("/v1/auth/exchange", {"provider": "privy", "token": jwt_idp.token(sub)}), 200)
    ext_access = ext["access_token"]
    third = Account.create()
    assert_json(link_wallet(app, ext_access, third), 201)
    identities = assert_json(app.get("/v1/me/identities", access=ext_access), 200)["identities"]
    assert len(identities) == 1
    assert app.request("DELETE", f"/v1/me/identities/{identities[0]['id']}", access=ext_access).status_code == 204, \
        "the wallet is another way to sign in"
    assert_problem(app.request("DELETE", f"/v1/me/wallets/{third.address}", access=ext_access), 409,
                   "last_login_method")


def test_a_wallet_account_with_a_second_factor_gets_the_challenge_not_a_session(app):
    acct = Account.create()
    first = assert_json(sign_in(app, acct), 200)
    access = first["access_token"]
    started = assert_json(app.post("/v1/me/mfa/totp", {}, access=access), 201)
    totp = pyotp.parse_uri(started["otpauth_uri"])
    assert_json(app.post("/v1/me/mfa/totp/confirm", {"code": totp.now()}, access=access), 200)
    for mode in ("bearer", "cookie"):
        resp = sign_in(app, acct, mode=mode)
        body = assert_json(resp, 200)
        assert body.get("mfa_required") is True and "access_token" not in body, body
        assert not {ACCESS, REFRESH} & set(set_cookies(resp)), f"{mode}: a session cookie before the second factor"
    challenge = assert_json(sign_in(app, acct), 200)
    done = assert_json(app.post("/v1/auth/mfa/verify",
                                {"mfa_token": challenge["mfa_token"], "code": totp.at(time.time() + 30)}), 200)
    assert done["user"]["id"] == first["user"]["id"]


def test_an_admin_finds_an_account_by_wallet_or_by_external_identity(app, root, jwt_idp):
    acct = Account.create()
    wallet_user = assert_json(sign_in(app, acct), 200)["user"]["id"]
    sub = f"did:privy:{uuid.uuid4().hex}"
    ext_user = assert_json(app.post("/v1/auth/exchange", {"provider": "privy", "token": jwt_idp.token(sub)}),
                           200)["user"]["id"]
    admin = root["access_token"]

    def found(**params) -> list[str]:
        body = assert_json(app.get("/v1/admin/users", access=admin, params=params), 200)
        return [u["id"] for u in body["users"]]

    assert found(wallet=acct.address) == [wallet_user]
    assert found(wallet=acct.address.lower()) == [wallet_user]
    assert found(wallet=Account.create().address) == []
    assert found(provider="privy", subject=sub) == [ext_user]
    assert found(provider="privy", subject=sub + "x") == []
    assert found(provider="other", subject=sub) == []
    assert_problem(app.get("/v1/admin/users", access=admin, params={"wallet": "0x1234"}), 400)
    assert_problem(app.get("/v1/admin/users", access=admin, params={"provider": "privy"}), 400)
    assert_problem(app.get("/v1/admin/users", access=admin, params={"subject": sub}), 400)
    someone = assert_json(sign_in(app, Account.create()), 200)["access_token"]
    assert_problem(app.get("/v1/admin/users", access=someone, params={"wallet": acct.address}), 403)
