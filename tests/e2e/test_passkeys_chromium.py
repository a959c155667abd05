"""Passkeys in real headless Chromium with its virtual authenticator (tests/browser/passkeys.mjs,
through playwright-core's DevTools session): registration and a usernameless sign-in with the
browser's own WebAuthn Level 3 JSON.

The page is served on http://localhost:<port> (a secure context: WebAuthn needs one, and
`http://localhost` is one), which is the server's only WEBAUTHN_ORIGINS entry, with
WEBAUTHN_RP_ID=localhost (an IP address cannot be an RP ID). Edgeward itself is on
http://127.0.0.1:<other port>; the page talks to it in bearer mode across origins (CORS).
"""
from __future__ import annotations

import pytest

from conftest import ROOT
from e2e_support import decode_unverified
from test_browser_chromium import PageServer, build_client, run_driver

DRIVER = ROOT / "tests" / "browser" / "passkeys.mjs"


@pytest.fixture(scope="module")
def seen(app_factory) -> dict:
    build_client()
    pages = PageServer()
    pages.start()
    try:
        port = pages.url.rsplit(":", 1)[1]
        page = f"http://localhost:{port}"
        app = app_factory(ALLOWED_ORIGINS=page, WEBAUTHN_RP_ID="localhost", WEBAUTHN_ORIGINS=page)
        email, password, _login = app.create_verified_user()
        out = run_driver(DRIVER, API=app.base_url, PAGE=page, EMAIL=email, PASSWORD=password)
        out["email"] = email
        return out
    finally:
        pages.stop()


def test_chromium_registers_a_passkey_from_the_creation_options(seen):
    assert seen["secureContext"] is True and seen["login"] == 200
    assert seen["creationOptions"]["status"] == 200, seen["creationOptions"]
    assert "error" not in seen["created"], seen["created"]
    assert seen["register"]["status"] == 201, seen["register"]
    assert seen["register"]["body"]["name"] == "Chromium"
    (listed,) = seen["list"]["body"]["passkeys"]
    assert listed["id"] == seen["register"]["body"]["id"]
    # Resident key required: the authenticator keeps it, for usernameless sign-in.
    (stored,) = seen["authenticatorCredentials"]
    assert stored["isResidentCredential"] is True and stored["rpId"] == "localhost"


def test_chromium_signs_in_usernameless_with_the_passkey_twice(seen):
    for attempt in (seen["signIn"], seen["secondSignIn"]):
        assert attempt["options"]["body"]["publicKey"]["allowCredentials"] == []
        assert "error" not in attempt["got"], attempt["got"]
        assert attempt["verify"]["status"] == 200, attempt["verify"]
    claims = decode_unverified(seen["signIn"]["verify"]["body"]["access_token"])[1]
    assert claims["amr"][1:] == ["user", "mfa"] and claims["amr"][0] in ("hwk", "swk")
    assert seen["me"]["body"]["email"] == seen["email"]
    # Chromium's virtual authenticator counts signatures: the second sign-in's counter grew.
    assert seen["authenticatorCredentials"][0]["signCount"] >= 2


@pytest.mark.parametrize("how", ["client", "clientWithoutJsonHelpers"])
def test_the_typescript_client_registers_and_signs_in_with_a_passkey_in_chromium(seen, how):
    """The client's registerPasskey/signInWithPasskey on navigator.credentials, with the
    browser's Level 3 JSON helpers, and with them removed (the client's own conversion, as in
    browsers that lack them)."""
    run = seen[how]
    assert run.get("error") is None, run
    assert run["helpers"] is (how == "client")
    assert run["registered"]["name"] == "Client"
    assert sorted(run["names"]) == ["Chromium", "Client"]  # the first test's passkey, and this one
    assert run["signedIn"] == seen["email"] and run["me"] == seen["email"]
    assert run["stepUp"] == "ok"
