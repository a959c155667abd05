"""The response validator every e2e request goes through (contract.py) catches what it claims to:
checked here on hand-made responses against the real document, without a server."""
import json

import pytest
import requests

from contract import Contract, ContractViolation

CONTRACT = Contract.load()
BASE = "http://127.0.0.1:1"


def response(status: int, body=None, content_type: str | None = None, headers=None,
             raw: bytes | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    if raw is not None:
        resp._content = raw
    elif body is not None:
        resp._content = json.dumps(body).encode()
    else:
        resp._content = b""
    if content_type is not None:
        resp.headers["Content-Type"] = content_type
    resp.headers["X-Request-Id"] = "r-1"
    resp.headers.update(headers or {})
    return resp


def problem(status: int, code: str) -> dict:
    return {"type": f"urn:edgeward:problem:{code}", "title": "t", "status": status,
            "detail": "d", "code": code, "request_id": "r-1"}


HEALTH = {"status": "ok"}


def test_a_documented_answer_passes():
    CONTRACT.check("GET", f"{BASE}/v1/me", response(
        401, problem(401, "invalid_token"), "application/problem+json",
        {"WWW-Authenticate": 'Bearer realm="edgeward"'}))


def test_an_undocumented_status_fails_naming_the_operation():
    with pytest.raises(ContractViolation, match=r"GET /v1/me -> 418: status 418 is not documented"):
        CONTRACT.check("GET", f"{BASE}/v1/me", response(418, problem(418, "teapot"),
                                                        "application/problem+json"))


def test_a_templated_path_is_matched_to_its_operation():
    with pytest.raises(ContractViolation, match=r"GET /v1/streams/\{id\} -> 200: body"):
        CONTRACT.check("GET", f"{BASE}/v1/streams/abc", response(200, {"id": 7}, "application/json"))


def test_a_body_that_does_not_match_the_schema_fails_with_the_error():
    with pytest.raises(ContractViolation, match=r"at \(root\): .*required"):
        CONTRACT.check("GET", f"{BASE}/v1/me", response(200, {"unexpected": True}, "application/json"))


def test_an_undocumented_content_type_fails():
    with pytest.raises(ContractViolation, match=r"content type 'text/plain' is not documented"):
        CONTRACT.check("GET", f"{BASE}/v1/me", response(200, raw=b"hi", content_type="text/plain"))


def test_an_error_that_is_not_problem_details_fails():
    with pytest.raises(ContractViolation, match=r"\"code\" is a required property"):
        CONTRACT.check("GET", f"{BASE}/v1/me", response(
            401, {"error": "nope"}, "application/problem+json",
            {"WWW-Authenticate": 'Bearer realm="edgeward"'}))


def test_a_problem_code_the_response_does_not_list_fails():
    with pytest.raises(ContractViolation, match=r"problem code 'rate_limited' is not one"):
        CONTRACT.check("GET", f"{BASE}/v1/streams/abc", response(
            404, problem(404, "rate_limited"), "application/problem+json"))


def test_a_problem_status_that_differs_from_the_http_status_fails():
    with pytest.raises(ContractViolation, match=r"problem status 400 differs"):
        CONTRACT.check("GET", f"{BASE}/v1/streams/abc", response(
            404, problem(400, "not_found"), "application/problem+json"))


def test_a_body_on_a_no_content_answer_fails():
    with pytest.raises(ContractViolation, match=r"must have no body"):
        CONTRACT.check("POST", f"{BASE}/v1/auth/logout", response(204, {"x": 1}, "application/json"))


def test_an_unknown_path_must_be_the_documented_404_problem():
    CONTRACT.check("GET", f"{BASE}/nope", response(404, problem(404, "not_found"),
                                                   "application/problem+json"))
    with pytest.raises(ContractViolation, match=r"no such path in the document"):
        CONTRACT.check("GET", f"{BASE}/nope", response(200, HEALTH, "application/json"))


def test_an_undocumented_method_must_be_405_with_allow():
    CONTRACT.check("PUT", f"{BASE}/v1/me", response(
        405, problem(405, "method_not_allowed"), "application/problem+json",
        {"Allow": "GET, HEAD, PATCH, DELETE"}))
    with pytest.raises(ContractViolation, match=r"required response header Allow is missing"):
        CONTRACT.check("PUT", f"{BASE}/v1/me", response(
            405, problem(405, "method_not_allowed"), "application/problem+json"))


def test_head_is_checked_as_get_without_a_body():
    CONTRACT.check("HEAD", f"{BASE}/health", response(200, content_type="application/json"))
    with pytest.raises(ContractViolation, match=r"must have no body"):
        CONTRACT.check("HEAD", f"{BASE}/health", response(200, HEALTH, "application/json"))


def test_the_platform_scheduled_trigger_is_not_edgewards_and_is_not_checked():
    CONTRACT.check("GET", f"{BASE}/cdn-cgi/handler/scheduled?cron=x", response(200, raw=b"ok"))


def test_a_problem_type_that_does_not_name_its_code_fails():
    body = {**problem(404, "not_found"), "type": "about:blank"}
    with pytest.raises(ContractViolation, match=r"problem type 'about:blank'"):
        CONTRACT.check("GET", f"{BASE}/v1/streams/abc", response(404, body, "application/problem+json"))
