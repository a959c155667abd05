"""Malformed bodies and invalid input are client errors with problem details, never 500."""
import json
import socket
import time
import urllib.parse
import uuid

import pytest

from e2e_support import assert_json, assert_problem, assert_user, new_password, unique_email

ONE_MIB = 1024 * 1024
JSON_ENDPOINTS = [
    "/v1/auth/register",
    "/v1/auth/verify-email",
    "/v1/auth/resend-verification",
    "/v1/auth/login",
    "/v1/auth/refresh",
    "/v1/auth/password/forgot",
    "/v1/auth/password/reset",
]


def _raw_post(app, path, data: bytes, content_type: str):
    return app.request("POST", path, data=data, headers={"Content-Type": content_type})


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_invalid_json_is_an_invalid_request(app, path):
    resp = _raw_post(app, path, b'{"email": "broken@example.test", ', "application/json")

    assert_problem(resp, 400, "invalid_request")


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_a_text_plain_body_is_an_unsupported_media_type(app, path):
    body = json.dumps({"email": unique_email(), "password": new_password()}).encode()

    resp = _raw_post(app, path, body, "text/plain")

    assert_problem(resp, 415, "unsupported_media_type")


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_a_body_over_one_mebibyte_is_too_large(app, path):
    body = json.dumps({"email": unique_email(), "password": "p" * (ONE_MIB + 16)}).encode()

    resp = _raw_post(app, path, body, "application/json")

    assert_problem(resp, 413, "payload_too_large")


def _status_of_a_chunked_body_that_never_ends(app, path: str, sent: int, wait_s: float):
    """POST `sent` bytes as chunks without the closing chunk, then wait up to `wait_s` for an
    answer: the status code, or None when the server is still waiting for the rest."""
    url = urllib.parse.urlsplit(app.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=wait_s) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                      "Connection: close\r\n\r\n").encode())
        chunk = b"[" + b"1," * 32767 + b"1"  # 64 KiB of a JSON array that never closes
        try:
            for _ in range(sent // len(chunk)):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the server may answer and close while we are still sending
        deadline = time.monotonic() + wait_s
        answer = b""
        while b"\r\n" not in answer and time.monotonic() < deadline:
            try:
                data = sock.recv(4096)
            except OSError:  # a timeout, or a reset after the answer
                break
            if not data:
                break
            answer += data
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("path", ["/v1/auth/register", "/v1/auth/login"])
def test_a_chunked_body_is_cut_off_at_one_mebibyte_without_waiting_for_its_end(app, path):
    # No Content-Length to refuse up front, and no end: a server that buffers the whole body
    # before looking at its size never answers.
    status = _status_of_a_chunked_body_that_never_ends(app, path, sent=ONE_MIB + 128 * 1024,
                                                       wait_s=15)

    assert status == 413, f"expected 413 while the body was still coming, got {status}"


def test_a_json_content_type_with_a_charset_is_accepted(app):
    email = unique_email()
    body = json.dumps({"email": email, "password": new_password()}).encode()

    resp = _raw_post(app, "/v1/auth/register", body, "application/json; charset=utf-8")

    assert_json(resp, 201)


@pytest.mark.parametrize("body", [
    {"password": "a-fine-password-1"},
    {"email": "missing-password@example.test"},
    {"email": 12345, "password": "a-fine-password-1"},
    {"email": "typed@example.test", "password": 12345678},
    {"email": "typed@example.test", "password": None},
    {"email": "typed@example.test", "password": "a-fine-password-1", "name": 42},
    [],
    "just a string",
    None,
], ids=["missing email", "missing password", "numeric email", "numeric password", "null password",
        "numeric name", "array body", "string body", "null body"])
def test_register_with_a_missing_or_mistyped_field_is_an_invalid_request(app, body):
    resp = _raw_post(app, "/v1/auth/register", json.dumps(body).encode(), "application/json")

    assert_problem(resp, 400, "invalid_request")


@pytest.mark.parametrize("path, body", [
    ("/v1/auth/login", {"email": "someone@example.test"}),
    ("/v1/auth/login", {"email": "someone@example.test", "password": ["x"]}),
    ("/v1/auth/refresh", {}),
    ("/v1/auth/refresh", {"refresh_token": 42}),
    ("/v1/auth/verify-email", {"token": None}),
    ("/v1/auth/password/forgot", {"email": True}),
    ("/v1/auth/password/reset", {"token": "abc"}),
], ids=["login without password", "login with array password", "refresh without token",
        "refresh with numeric token", "verify with null token", "forgot with boolean email",
        "reset without password"])
def test_other_endpoints_with_a_missing_or_mistyped_field_answer_invalid_request(app, path, body):
    resp = app.post(path, body)

    assert_problem(resp, 400, "invalid_request")


def _long_address(total: int) -> str:
    local = "x" + uuid.uuid4().hex[:12]
    labels, remaining = [], total - len(local) - 1 - len(".test")
    while remaining > 0:
        label = "d" * min(60, remaining - (1 if labels else 0))
        labels.append(label)
        remaining -= len(label) + (1 if len(labels) > 1 else 0)
    return f"{local}@{'.'.join(labels)}.test"


@pytest.mark.parametrize("email", [
    "not-an-email",
    "missing-local@",
    "@example.test",
    "",
    "two@@example.test",
    "x" * 65 + "@example.test",
    _long_address(255),
], ids=["no at sign", "no domain", "no local part", "empty", "two at signs", "local part of 65",
        "255 characters"])
def test_register_with_an_invalid_email_is_an_invalid_request(app, email):
    resp = app.register(email, new_password())

    assert_problem(resp, 400, "invalid_request")


@pytest.mark.parametrize("length", [7, 129])
def test_register_with_a_password_outside_8_to_128_characters_is_an_invalid_request(app, length):
    resp = app.register(unique_email(), new_password(length))

    assert_problem(resp, 400, "invalid_request")


@pytest.mark.parametrize("length", [8, 128])
def test_register_accepts_passwords_of_8_and_128_characters(app, length):
    resp = app.register(unique_email(), new_password(length))

    assert_json(resp, 201)


def test_register_accepts_a_local_part_of_64_characters(app):
    local = ("u" + uuid.uuid4().hex * 2).ljust(64, "x")[:64]

    resp = app.register(f"{local}@example.test", new_password())

    assert_json(resp, 201)


def test_emails_are_trimmed_and_lowercased(app):
    tag = uuid.uuid4().hex[:12]
    typed = f"  MiXeD-{tag}@Example.Test "
    normalised = f"mixed-{tag}@example.test"
    password = new_password()

    registered = assert_json(app.register(typed, password), 201)

    assert_user(registered["user"], email=normalised)
    token = app.token_from_mail(app.wait_for_mail(normalised, "Verify"))
    assert_json(app.verify_email(token), 200)
    assert assert_json(app.login(normalised, password), 200)["user"]["email"] == normalised
    assert assert_json(app.login(typed, password), 200)["user"]["email"] == normalised
