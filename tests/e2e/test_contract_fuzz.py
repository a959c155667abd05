"""Schemathesis against a local server: every operation of openapi/openapi.json, authenticated,
with generated valid and invalid input, must answer without a server error and as the document
says (status, content type, headers, body schema), and must accept every schema-valid request
(no 400 for input the document allows).

The run is bounded (EDGEWARD_FUZZ_MAX_EXAMPLES per operation, default 25, fixed seed
EDGEWARD_FUZZ_SEED so a failure reproduces; about 2-3 minutes on 2 cores) and prints its figures:
operations and cases run, failures found, and the statuses each operation answered.

No operation is excluded: the development routes are on in the development configuration every
local server runs with, and the WebSocket routes answer a plain GET (no upgrade) with their
documented 401/403/404/426 problems, which are checked like any other answer. The 101 itself is
covered by the realtime e2e tests, not here.
Authentication and the state-dependent refusals allowed in positive cases: schemathesis_hooks.py.
"""
from __future__ import annotations

import collections
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from e2e_support import unique_email

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "openapi" / "openapi.json"
HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = int(os.environ.get("EDGEWARD_FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("EDGEWARD_FUZZ_SEED", "20261205"))
RUN_TIMEOUT_S = 600
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    # schemathesis' positive_data_acceptance, with the few refusals that depend on state
    # (schemathesis_hooks.STATE_REJECTIONS) allowed by problem code.
    "edgeward_positive_data_acceptance",
    "edgeward_status_census",
])

# Every operation is fuzzed; none is left out.
EXCLUDED: tuple[str, ...] = ()
_DOCUMENT = json.loads(DOCUMENT.read_text())
EXCLUDED_ARGS = [arg for label in EXCLUDED for arg in (
    "--exclude-operation-id", _DOCUMENT["paths"][label.split()[1]][label.split()[0].lower()]["operationId"])]


def test_every_operation_conforms_to_the_document_under_generated_input(app_factory, tmp_path, record_property):
    admin_email = unique_email()
    # The main user is an admin, so the admin operations are exercised past their 403; password
    # checks that fail (wrong passwords are generated) count towards the lockout: give room.
    app = app_factory(ADMIN_EMAILS=admin_email, LOCKOUT_THRESHOLD=100)
    _, _, tokens = app.create_verified_user_with_email(admin_email)
    spare_email, spare_password, _ = app.create_verified_user()
    resp = app.grant_credits(tokens["access_token"], 1_000_000)
    assert resp.status_code == 201, f"grant credits: {resp.status_code} {resp.text[:300]}"

    # One worker: with two, hypothesis' strategy reprs call ast.parse from two threads at once,
    # which CPython 3.11 can fail with "SystemError: AST constructor recursion depth mismatch".
    report = tmp_path / "schemathesis.json"
    census = tmp_path / "census.tsv"
    cmd = [str(ST), "run", str(DOCUMENT), "--url", app.base_url, *EXCLUDED_ARGS,
           "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
           "--phases", "examples,coverage,fuzzing", "--workers", "1", "--request-timeout", "30",
           "--suppress-health-check", "all", "--no-shrink", "--continue-on-failure",
           "--report", "json", "--report-json-path", str(report)]
    env = {**os.environ,
           "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
           "EDGEWARD_FUZZ_BASE_URL": app.base_url,
           "EDGEWARD_FUZZ_ACCESS": tokens["access_token"],
           "EDGEWARD_FUZZ_SPARE_EMAIL": spare_email,
           "EDGEWARD_FUZZ_SPARE_PASSWORD": spare_password,
           "EDGEWARD_FUZZ_CENSUS": str(census),
           "NO_COLOR": "1"}
    # In tmp_path: schemathesis keeps its example database in ./.schemathesis.
    result = subprocess.run(cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=RUN_TIMEOUT_S)
    output = result.stdout + result.stderr
    figures = _figures(report, census)
    # Shown at the end of the run (conftest.py), whichever process ran the test.
    record_property("figures", f"$ {shlex.join(cmd)}\n{figures}")
    assert result.returncode == 0, (f"schemathesis found failures (exit {result.returncode}):\n"
                                    f"{output[-20000:]}\n{figures}")
    operations = json.loads(report.read_text())["operations"]
    assert operations["tested"] == operations["selected"] == operations["total"] - len(EXCLUDED), \
        f"not every operation was tested: {operations}"


def _figures(report: Path, census: Path) -> str:
    """What the run covered: operations, cases, failures, and the statuses each operation gave."""
    if not report.exists():
        return "schemathesis wrote no report"
    run = json.loads(report.read_text())
    ops, cases = run["operations"], run["test_cases"]
    lines = [f"schemathesis {run['schemathesis_version']}, seed {run['seed']}, "
             f"{run['running_time']:.0f} s: {ops['tested']}/{ops['total']} operations, "
             f"{cases['generated']} cases, {cases['unique_failures']} unique failures, "
             f"{len(run['errors'])} errors"]
    for failure in run["failures"]:
        lines.append(f"  failure {failure['code']} {failure['title']} x{failure['count']}: "
                     f"{', '.join(failure['operations'])}")
    statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    if census.exists():
        for row in census.read_text().splitlines():
            label, _mode, status, _code = row.split("\t")
            statuses[label][status] += 1
    for label in sorted(statuses):
        seen = ", ".join(f"{status} x{n}" for status, n in sorted(statuses[label].items()))
        lines.append(f"  {label}: {seen}")
    return "\n".join(lines)
