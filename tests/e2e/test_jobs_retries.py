"""Retries, refunds and the dead-letter queue, on a server of its own: JOB_MAX_ATTEMPTS=2 and a 1 s
retry base (delays 1 s, 2 s, ...), with one admin (ADMIN_EMAILS) for the stats."""
import time

import pytest

from conftest import GENEROUS_RATE_LIMITS, AppStartError, spawn_app
from e2e_support import assert_json, assert_problem, unique_email
from realtime_support import fund, new_user
from test_jobs import assert_job, drain_job_queue, entries_for, error_code

MAX_ATTEMPTS = 2
JOB_TIMEOUT_S = 30
ADMIN_EMAIL = unique_email("admin")


@pytest.fixture(scope="module")
def jobs_app():
    try:
        app = spawn_app(**GENEROUS_RATE_LIMITS, JOB_MAX_ATTEMPTS=MAX_ATTEMPTS, JOB_RETRY_BASE_SECONDS=1,
                        ADMIN_EMAILS=f"someone-else@example.test,{ADMIN_EMAIL}")
    except AppStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def admin(jobs_app) -> dict:
    _email, _password, login = jobs_app.create_verified_user_with_email(ADMIN_EMAIL, name="Admin")
    return login


def wait_for_dead_letters(app, access: str, count: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = app.job_stats_json(access)
        if stats["dead_letters"] >= count or time.monotonic() > deadline:
            return stats
        time.sleep(0.25)


def test_the_admin_stats_count_jobs_by_status_and_the_queue(jobs_app, admin):
    stats = assert_json(jobs_app.job_stats(admin["access_token"]), 200)

    assert set(stats) >= {"jobs", "dead_letters", "queue_depth"}, stats
    assert set(stats["jobs"]) == {"queued", "running", "succeeded", "failed"}, stats
    for value in [*stats["jobs"].values(), stats["dead_letters"], stats["queue_depth"]]:
        assert isinstance(value, int) and value >= 0, stats
    user = new_user(jobs_app, "Not an admin")
    assert_problem(jobs_app.job_stats(user["access_token"]), 403, "forbidden")


def test_a_job_failing_every_attempt_ends_failed_refunded_once_and_dead_lettered(jobs_app, admin):
    app = jobs_app
    user = new_user(app, "Unlucky")
    access = user["access_token"]
    start = fund(app, user, 5)
    before = app.job_stats_json(admin["access_token"])

    job = app.submit_job(access, "dev_fail", {"fail_attempts": MAX_ATTEMPTS})
    done = app.wait_for_job(access, job["id"], timeout=JOB_TIMEOUT_S)

    assert_job(done, kind="dev_fail", status="failed")
    assert done["attempts"] == MAX_ATTEMPTS, done
    assert done["charged"] is True and done["refunded"] is True, done
    assert done["error"] is not None and done["result"] is None and done["finished_at"] is not None, done
    assert error_code(done) != "insufficient_credits", done
    balance, entries = app.credit_ledger(access)
    mine = sorted((e["kind"], e["amount"]) for e in entries_for(entries, job["id"]))
    assert mine == [("job_charge", -1), ("job_refund", 1)], entries
    assert balance == start == sum(e["amount"] for e in entries)
    after = wait_for_dead_letters(app, admin["access_token"], before["dead_letters"] + 1)
    assert after["dead_letters"] == before["dead_letters"] + 1, (before, after)
    assert after["jobs"]["failed"] == before["jobs"]["failed"] + 1, (before, after)
    # nothing more happens to it later: the queue has moved past it
    drain_job_queue(app, new_user(app, "Barrier")["access_token"])
    assert assert_json(app.job(access, job["id"]), 200) == done
    assert app.credit_ledger(access) == (balance, entries)


def test_a_job_failing_fewer_times_than_the_limit_succeeds_with_one_charge(jobs_app, admin):
    app = jobs_app
    user = new_user(app, "Lucky second time")
    access = user["access_token"]
    start = fund(app, user, 5)
    before = app.job_stats_json(admin["access_token"])

    job = app.submit_job(access, "dev_fail", {"fail_attempts": 1})
    done = app.wait_for_job(access, job["id"], timeout=JOB_TIMEOUT_S)

    assert_job(done, kind="dev_fail", status="succeeded")
    assert done["attempts"] == 2, done
    assert done["charged"] is True and done["refunded"] is False and done["error"] is None, done
    balance, entries = app.credit_ledger(access)
    assert [(e["kind"], e["amount"]) for e in entries_for(entries, job["id"])] == [("job_charge", -1)], entries
    assert balance == start - 1
    after = app.job_stats_json(admin["access_token"])
    assert after["dead_letters"] == before["dead_letters"], (before, after)
    assert after["jobs"]["succeeded"] == before["jobs"]["succeeded"] + 1, (before, after)


def test_a_job_that_never_fails_succeeds_at_the_first_attempt(jobs_app):
    user = new_user(jobs_app, "Steady")
    fund(jobs_app, user, 1)

    job = jobs_app.submit_job(user["access_token"], "dev_fail", {"fail_attempts": 0})
    done = jobs_app.wait_for_job(user["access_token"], job["id"], timeout=JOB_TIMEOUT_S)

    assert (done["status"], done["attempts"]) == ("succeeded", 1), done
    assert jobs_app.balance(user["access_token"]) == 0


def test_an_admin_grants_credits_to_a_user_once_per_idempotency_key(jobs_app, admin):
    user = new_user(jobs_app, "Grantee")
    body = {"user_id": user["user"]["id"], "amount": 7}
    key = {"Idempotency-Key": "admin-grant-1"}

    def grant(b):
        return jobs_app.post("/v1/admin/credits", b, access=admin["access_token"], headers=key)

    first, replay, other_body = grant(body), grant(body), grant({**body, "amount": 8})

    assert first.status_code == 201, first.text
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert_problem(other_body, 422, "idempotency_key_mismatch")
    balance, entries = jobs_app.credit_ledger(user["access_token"])
    assert balance == 7 and [e["kind"] for e in entries] == ["grant"], entries


def test_only_admins_grant_credits_and_only_to_existing_users(jobs_app, admin):
    user = new_user(jobs_app, "Not an admin")
    body = {"user_id": user["user"]["id"], "amount": 5}

    as_user = jobs_app.post("/v1/admin/credits", body, access=user["access_token"])
    unknown = jobs_app.post("/v1/admin/credits", {"user_id": "00000000-0000-4000-8000-000000000000", "amount": 5},
                            access=admin["access_token"])

    assert_problem(as_user, 403, "forbidden")
    assert_problem(unknown, 404, "not_found")
    assert jobs_app.balance(user["access_token"]) == 0
