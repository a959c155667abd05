"""The HTTP contract, checked rather than trusted: every response the end-to-end suite receives is
validated against `openapi/openapi.json` for its operation (path template + method) and status.

`Contract.check(method, path, response)` raises `ContractViolation` (an AssertionError) naming the
operation, the status and what differs when:
- the status is not documented for the operation (nor by a `4XX`/`default` entry);
- the content type is not one the document lists for that status, or a body comes where the
  document describes none;
- the JSON body does not validate against the documented schema (components resolved, formats
  checked);
- a 4xx/5xx answer is not RFC 9457 problem details (`application/problem+json`, the `Problem`
  schema, `status` equal to the HTTP status, `type` `urn:edgeward:problem:<code>`) or its `code`
  is not one the response lists in `x-problem-codes`;
- a documented required response header is missing.

A path or method the document does not describe is checked against the document's
`x-unmatched-routes` responses (the 404 and 405 problems any unknown route gets), so tests that
probe unknown routes are validated too. Paths under `/cdn-cgi/` belong to wrangler's local
platform (the scheduled-handler trigger), not to Edgeward, and are not checked.
"""
from __future__ import annotations

import json
import re
import urllib.parse
from functools import cached_property
from pathlib import Path

import jsonschema_rs

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PROBLEM_JSON = "application/problem+json"
PLATFORM_PREFIXES = ("/cdn-cgi/",)
# Statuses whose response never has a body (RFC 9110): a HEAD answer has none either.
BODYLESS_STATUSES = {101, 204, 304}


class ContractViolation(AssertionError):
    pass


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _template_regex(template: str) -> re.Pattern:
    # `{id}` stands for one non-empty path segment, as in the router (src/core/routes.rs).
    parts = [re.escape(p) if not (p.startswith("{") and p.endswith("}")) else "[^/]+"
             for p in template.split("/")]
    return re.compile("^" + "/".join(parts) + "$")


class Contract:
    def __init__(self, document: dict):
        self.document = document
        self._validators: dict[str, jsonschema_rs.Draft202012Validator] = {}
        self._routes = [(template, _template_regex(template), item)
                        for template, item in document["paths"].items()]
        # Literal templates before templated ones, so `/a/b` wins over `/a/{id}` as in the router.
        self._routes.sort(key=lambda r: "{" in r[0])

    @classmethod
    def load(cls, path: Path = DOCUMENT_PATH) -> "Contract":
        return cls(json.loads(path.read_text()))

    # ------------------------------------------------------------ lookups

    def _resolve(self, node: dict) -> dict:
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), f"only local references are supported: {ref}"
            target = self.document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _validator(self, schema: dict) -> jsonschema_rs.Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            # The schema is checked as a subschema of a root that carries the document's
            # components, so `#/components/...` references resolve as they do in the document.
            root = {"components": self.document["components"], "allOf": [schema]}
            validator = self._validators[key] = jsonschema_rs.Draft202012Validator(
                root, validate_formats=True)
        return validator

    @cached_property
    def problem_schema(self) -> dict:
        return {"$ref": "#/components/schemas/Problem"}

    def operation(self, method: str, path: str) -> tuple[str, dict | None, list[str]]:
        """(template or '', the operation or None, the methods the matched path has)."""
        method = method.lower()
        for template, regex, item in self._routes:
            if regex.match(path):
                methods = [m for m in METHODS if m in item]
                op = item.get(method)
                if op is None and method == "head":
                    op = item.get("get")  # HEAD is answered as GET without a body
                return template, op, methods
        return "", None, []

    @staticmethod
    def _documented(responses: dict, status: int):
        for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if key in responses:
                return key, responses[key]
        return None, None

    # ------------------------------------------------------------ the check

    def check(self, method: str, url: str, resp) -> None:
        path = urllib.parse.urlsplit(url).path
        if path.startswith(PLATFORM_PREFIXES):
            return
        method = method.upper()
        template, op, methods = self.operation(method, path)
        status = resp.status_code
        if op is not None:
            label = f"{method} {template}"
            responses = op.get("responses", {})
        else:
            unmatched = self.document.get("x-unmatched-routes", {})
            # A known path with an undocumented method is 405; an unknown path is 404.
            wanted = 405 if methods else 404
            label = (f"{method} {path} (no such operation: documented methods "
                     f"{[m.upper() for m in methods]})" if methods
                     else f"{method} {path} (no such path in the document)")
            responses = {k: v for k, v in unmatched.items() if k == str(wanted)}
        key, documented = self._documented(responses, status)
        if documented is None:
            self._fail(label, resp, f"status {status} is not documented "
                                    f"(documented: {sorted(responses)})")
        documented = self._resolve(documented)
        self._check_headers(label, resp, documented)
        self._check_body(label, method, resp, documented)

    def _check_headers(self, label, resp, documented: dict) -> None:
        for name, header in documented.get("headers", {}).items():
            header = self._resolve(header)
            value = resp.headers.get(name)
            if value is None:
                if header.get("required"):
                    self._fail(label, resp, f"required response header {name} is missing")
                continue
            schema = header.get("schema")
            if schema is None:
                continue
            resolved = self._resolve(schema)
            instance: object = value
            if resolved.get("type") == "integer":
                try:
                    instance = int(value)
                except ValueError:
                    self._fail(label, resp, f"header {name}: {value!r} is not an integer")
            errors = list(self._validator(schema).iter_errors(instance))
            if errors:
                self._fail(label, resp, f"header {name}: {value!r}: {errors[0].message}")

    def _check_body(self, label, method, resp, documented: dict) -> None:
        status = resp.status_code
        content = documented.get("content", {})
        body = resp.content
        media_type = _media_type(resp.headers.get("Content-Type"))
        if status in BODYLESS_STATUSES or method == "HEAD":
            if body:
                self._fail(label, resp, f"a {status} answer to {method} must have no body")
            return
        if not content:
            if body:
                self._fail(label, resp, f"the document describes no body, but one came "
                                        f"({media_type or 'no content type'})")
            return
        if media_type not in content:
            self._fail(label, resp, f"content type {media_type or '(none)'!r} is not documented "
                                    f"(documented: {sorted(content)})")
        schema = content[media_type].get("schema")
        is_json = media_type == "application/json" or media_type.endswith("+json")
        if status >= 400 and media_type != PROBLEM_JSON:
            self._fail(label, resp, f"a {status} answer must be {PROBLEM_JSON}, not {media_type}")
        if not is_json:
            return
        try:
            instance = json.loads(body)
        except ValueError as exc:
            self._fail(label, resp, f"the body is not JSON: {exc}")
        if schema is not None:
            self._validate(label, resp, schema, instance, "body")
        if status >= 400:
            self._validate(label, resp, self.problem_schema, instance, "problem details")
            if instance.get("status") != status:
                self._fail(label, resp, f"problem status {instance.get('status')} "
                                        f"differs from the HTTP status {status}")
            if instance.get("type") != f"urn:edgeward:problem:{instance.get('code')}":
                self._fail(label, resp, f"problem type {instance.get('type')!r} is not "
                                        f"urn:edgeward:problem:<code>")
            codes = documented.get("x-problem-codes")
            if codes is not None and instance.get("code") not in codes:
                self._fail(label, resp, f"problem code {instance.get('code')!r} is not one this "
                                        f"response documents (x-problem-codes: {codes})")

    def _validate(self, label, resp, schema, instance, what: str) -> None:
        errors = list(self._validator(schema).iter_errors(instance))
        if errors:
            lines = [f"{what} does not match the schema:"]
            for error in errors[:5]:
                where = "/".join(str(p) for p in error.instance_path) or "(root)"
                lines.append(f"  at {where}: {error.message}")
            self._fail(label, resp, "\n".join(lines))

    @staticmethod
    def _fail(label: str, resp, message: str) -> None:
        raise ContractViolation(
            f"response breaks openapi/openapi.json: {label} -> {resp.status_code}: {message}\n"
            f"  body: {resp.text[:500]!r}")
