"""A crash in the middle of the job queue: the whole wrangler process group is SIGKILLed while jobs
are queued, running or waiting for a retry, then started again on the same state directory and
port. The queue's in-flight messages are lost with the process; the cron's stale-job step must
bring every job to an end (JOB_RUNNING_TIMEOUT_SECONDS=2, JOB_QUEUED_STALE_SECONDS=2), and the
ledger must show each job charged at most once and refunded at most once.
"""
import time

import pytest

from conftest import GENEROUS_RATE_LIMITS, AppStartError, spawn_app
from realtime_support import fund, new_user
from test_jobs import entries_for, error_code

MAX_ATTEMPTS = 3
SETTLE_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def fault_app():
    try:
        app = spawn_app(**GENEROUS_RATE_LIMITS, JOB_MAX_ATTEMPTS=MAX_ATTEMPTS, JOB_RETRY_BASE_SECONDS=1,
                        JOB_RUNNING_TIMEOUT_SECONDS=2, JOB_QUEUED_STALE_SECONDS=2)
    except AppStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield app
    app.stop()


def test_after_a_kill_and_restart_every_job_ends_charged_once_and_refunded_at_most_once(fault_app):
    app = fault_app
    rich, broke = new_user(app, "Rich"), new_user(app, "Broke")
    fund(app, rich, 50)
    specs = [("render_svg", {"text": f"Crash {n}"}) for n in range(4)] + \
            [("dev_fail", {"fail_attempts": 1}) for _ in range(3)] + \
            [("dev_fail", {"fail_attempts": 5}) for _ in range(3)]
    jobs = [(rich, app.submit_job(rich["access_token"], kind, input)) for kind, input in specs]
    jobs.append((broke, app.submit_job(broke["access_token"], "render_svg", {"text": "No credits"})))

    # kill once the consumer is at work: some job has left `queued` (a bounded wait, not a guess)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        at_kill = {}
        for user, job in jobs:
            resp = app.job(user["access_token"], job["id"])
            at_kill[job["id"]] = resp.json()["status"] if resp.status_code == 200 else f"HTTP {resp.status_code}"
        if any(status != "queued" for status in at_kill.values()):
            break
        assert time.monotonic() < deadline, f"no job left `queued` within {SETTLE_TIMEOUT_S}s: {at_kill}"
        time.sleep(0.05)
    app.kill()
    app.restart()

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    runs = 0
    while True:
        app.run_cron()
        runs += 1
        final = {job["id"]: app.job(user["access_token"], job["id"]).json() for user, job in jobs}
        if all(j["status"] in ("succeeded", "failed") for j in final.values()):
            break
        if time.monotonic() > deadline:
            pending = {i: (j["status"], j["attempts"]) for i, j in final.items()
                       if j["status"] not in ("succeeded", "failed")}
            raise AssertionError(f"jobs still unfinished after {SETTLE_TIMEOUT_S}s and {runs} cron runs: "
                                 f"{pending}; at the kill: {at_kill}")
        time.sleep(1.5)

    problems, charges, refunds = [], 0, 0
    for user in (rich, broke):
        balance, entries = app.credit_ledger(user["access_token"])
        if balance != sum(e["amount"] for e in entries):
            problems.append(f"{user['user']['id']}: balance {balance} != sum of ledger entries")
        for _owner, job in ((o, j) for o, j in jobs if o is user):
            done = final[job["id"]]
            mine = entries_for(entries, job["id"])
            kinds = sorted(e["kind"] for e in mine)
            charges += kinds.count("job_charge")
            refunds += kinds.count("job_refund")
            amounts = {e["kind"]: e["amount"] for e in mine}
            if done["status"] == "succeeded":
                ok = kinds == ["job_charge"] and amounts["job_charge"] == -1 and not done["refunded"]
            elif error_code(done) == "insufficient_credits":
                ok = kinds == [] and not done["charged"] and not done["refunded"]
            else:
                ok = kinds == ["job_charge", "job_refund"] and amounts == {"job_charge": -1, "job_refund": 1}
            if not ok:
                problems.append(f"{done['kind']} {done['input']} {done['status']} (at kill: "
                                f"{at_kill[job['id']]}, attempts {done['attempts']}): ledger {kinds}")
    by_status = {s: sum(j["status"] == s for j in final.values()) for s in ("succeeded", "failed")}
    at_kill_counts = {s: list(at_kill.values()).count(s) for s in sorted(set(at_kill.values()))}
    print(f"\nfault kill/restart: {len(jobs)} jobs, at kill {at_kill_counts}; after {runs} cron runs "
          f"{by_status['succeeded']} succeeded, {by_status['failed']} failed; "
          f"{charges} job_charge, {refunds} job_refund; {len(problems)} ledger problems")
    assert not problems, "\n".join(problems)
    # the expected outcomes: fail_attempts 1 succeeds, 5 (over the limit of 3) fails, no credits fails
    for (kind, input), (_user, job) in zip(specs, jobs):
        expected = "failed" if input.get("fail_attempts", 0) >= MAX_ATTEMPTS else "succeeded"
        assert final[job["id"]]["status"] == expected, final[job["id"]]
    assert error_code(final[jobs[-1][1]["id"]]) == "insufficient_credits", final[jobs[-1][1]["id"]]
