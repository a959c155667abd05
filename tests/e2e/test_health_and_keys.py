"""Health, readiness, the published key set, the OpenAPI document and the generic HTTP conventions."""
import json
import uuid
from pathlib import Path

import pytest

from e2e_support import assert_json, assert_problem

# Every path and method of API.md's "Health and keys" and "Accounts and tokens" tables.
CONTRACT_OPERATIONS = [
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/openapi.json"),
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/verify-email"),
    ("post", "/v1/auth/resend-verification"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/auth/sessions"),
    ("delete", "/v1/auth/sessions/{id}"),
    ("post", "/v1/auth/password/forgot"),
    ("post", "/v1/auth/password/reset"),
    ("post", "/v1/auth/password/change"),
    ("get", "/v1/me"),
]


def test_health_answers_ok(app):
    resp = app.health()

    body = assert_json(resp, 200)
    assert body["status"] == "ok"


def test_ready_reports_the_database_check(app):
    resp = app.ready()

    body = assert_json(resp, 200)
    assert body["status"] == "ready"
    assert body["checks"]["d1"] == "ok"


def test_jwks_publishes_the_configured_public_key_and_no_private_material(app):
    resp = app.jwks()

    body = assert_json(resp, 200)
    assert body["keys"], "empty key set"
    for key in body["keys"]:
        assert key["kty"] == "OKP"
        assert key["crv"] == "Ed25519"
        assert key["alg"] == "EdDSA"
        assert key["use"] == "sig"
        assert isinstance(key["kid"], str) and key["kid"]
        assert isinstance(key["x"], str) and key["x"]
        assert "d" not in key, "private key published"
    published = {k["kid"]: k["x"] for k in body["keys"]}
    assert published.get(app.kid) == app.jwk_x


def test_openapi_document_is_3_1_and_lists_every_contract_operation(app):
    resp = app.openapi()

    body = assert_json(resp, 200)
    assert str(body["openapi"]).startswith("3.1")
    paths = body["paths"]
    missing = [f"{method.upper()} {path}" for method, path in CONTRACT_OPERATIONS
               if method not in paths.get(path, {})]
    assert not missing, f"OpenAPI lacks {missing}"


def test_the_openapi_document_is_the_shipped_file_with_the_api_headers(app):
    resp = app.openapi()

    # Read from the static assets (not compiled into the wasm), answered by the Worker.
    shipped = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
    body = assert_json(resp, 200)
    assert body == json.loads(shipped.read_text())
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_the_openapi_document_refuses_other_methods_with_allow(app):
    resp = app.post("/openapi.json", {})

    assert_problem(resp, 405)
    assert resp.headers["Allow"] == "GET, HEAD"


def test_a_request_id_taken_from_cf_ray_is_echoed(app):
    ray = f"{uuid.uuid4().hex[:16]}-LHR"

    resp = app.get("/health", headers={"cf-ray": ray})

    assert resp.headers.get("X-Request-Id") == ray


def test_each_request_without_cf_ray_gets_its_own_request_id(app):
    first = app.health()
    second = app.health()

    assert first.headers.get("X-Request-Id")
    assert second.headers.get("X-Request-Id")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_an_error_body_carries_the_same_request_id_as_its_header(app):
    resp = app.get(f"/v1/no-such-thing-{uuid.uuid4().hex[:6]}")

    body = assert_problem(resp, 404, "not_found")
    assert body["request_id"] == resp.headers["X-Request-Id"]


@pytest.mark.parametrize("path", ["/v1/does-not-exist", "/nope", "/v1/auth/sessions/x/y"])
def test_an_unknown_path_is_a_not_found_problem(app, path):
    resp = app.get(path)

    assert_problem(resp, 404, "not_found")


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/v1/auth/login", "POST"),
    ("POST", "/health", "GET"),
    # A fixed id: test ids must be the same in every pytest-xdist worker's collection.
    ("PUT", "/v1/auth/sessions/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "DELETE"),
    ("DELETE", "/v1/auth/register", "POST"),
])
def test_a_known_path_with_the_wrong_method_is_method_not_allowed_with_an_allow_header(app, method, path, allowed):
    resp = app.request(method, path)

    assert_problem(resp, 405, "method_not_allowed")
    allow = {m.strip().upper() for m in resp.headers.get("Allow", "").split(",")}
    assert allowed in allow, f"Allow: {resp.headers.get('Allow')!r}"


def test_the_development_mailbox_of_an_address_without_mail_is_empty(app):
    resp = app.mailbox(f"nobody-{uuid.uuid4().hex[:12]}@example.test")

    body = assert_json(resp, 200)
    assert body["messages"] == []
