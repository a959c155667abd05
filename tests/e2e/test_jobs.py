"""Asynchronous jobs on the shared server: submission with Idempotency-Key, the queue consumer's
life cycle (queued -> running -> succeeded), exactly-once charging, redelivery, the user channel's
`job.updated` events, visibility and validation.

Retries, refunds and the admin stats live in test_jobs_retries.py (a server with a low retry limit).
"""
import uuid

import pytest

from e2e_support import assert_json, assert_problem, assert_uuid, parse_utc, run_in_parallel
from realtime_support import Sockets, fund, new_user, run

JOB_FIELDS = {"id", "kind", "status", "input", "result", "error", "attempts", "cost", "charged",
              "refunded", "created_at", "updated_at", "finished_at"}
JOB_STATUSES = ("queued", "running", "succeeded", "failed")
JOB_TIMEOUT_S = 20


def assert_job(job: dict, *, kind: str | None = None, status: str | None = None) -> None:
    assert JOB_FIELDS <= set(job), f"job lacks {JOB_FIELDS - set(job)}: {job}"
    assert_uuid(job["id"])
    assert job["status"] in JOB_STATUSES, job
    assert isinstance(job["attempts"], int) and job["attempts"] >= 0, job
    assert isinstance(job["cost"], int), job
    assert isinstance(job["charged"], bool) and isinstance(job["refunded"], bool), job
    parse_utc(job["created_at"])
    parse_utc(job["updated_at"])
    if job["finished_at"] is not None:
        parse_utc(job["finished_at"])
    if kind is not None:
        assert job["kind"] == kind, job
    if status is not None:
        assert job["status"] == status, job


def assert_input(job: dict, submitted: dict) -> None:
    """The job's input holds what was submitted (the server may fill in the options' defaults)."""
    assert isinstance(job["input"], dict), job
    assert {k: job["input"].get(k) for k in submitted} == submitted, (submitted, job)


def error_code(job: dict):
    """The job's error code, whether `error` is a bare code or an object with `code`."""
    error = job["error"]
    return error.get("code") if isinstance(error, dict) else error


def entries_for(entries: list[dict], job_id: str, kind: str | None = None) -> list[dict]:
    return [e for e in entries if e["ref_id"] == job_id and (kind is None or e["kind"] == kind)]


def drain_job_queue(app, access: str) -> None:
    """Returns once every job message queued before the call has been handled: the job queue
    delivers in order, and this waits for a job submitted now to end. `access` may belong to a
    user without credits: a job refused for credits is handled all the same (and costs nothing)."""
    barrier = app.submit_job(access, "render_svg", {"text": "Barrier"})
    app.wait_for_job(access, barrier["id"], timeout=JOB_TIMEOUT_S)


def render(text: str, **options) -> dict:
    return {"kind": "render_svg", "input": {"text": text, **options}}


def test_a_render_job_runs_once_charges_once_and_reports_each_step_on_the_user_channel(app):
    user = new_user(app, "Renderer")
    access = user["access_token"]
    fund(app, user, 10)
    text = 'Hi <script>alert("x")</script> & co'

    async def scenario():
        async with Sockets(app) as sockets:
            channel = await sockets.user_channel(access, "owner's channel")
            resp = await sockets.http(app.create_job, access, render(text), str(uuid.uuid4()))
            job = assert_json(resp, 202)
            assert_job(job, kind="render_svg", status="queued")
            assert_input(job, {"text": text})
            assert (job["result"], job["error"], job["finished_at"]) == (None, None, None), job
            assert job["cost"] == 1, job
            updates = []
            while not updates or updates[-1]["status"] not in ("succeeded", "failed"):
                event = await channel.take("job.updated", timeout=JOB_TIMEOUT_S)
                if event["job"]["id"] == job["id"]:
                    assert_job(event["job"], kind="render_svg")
                    updates.append(event["job"])
            return job, updates

    job, updates = run(scenario())

    statuses = [u["status"] for u in updates]
    assert statuses[-1] == "succeeded", statuses
    assert "running" in statuses, f"no job.updated with status running: {statuses}"
    order = [JOB_STATUSES.index(s) for s in statuses]
    assert order == sorted(order), f"job.updated statuses out of order: {statuses}"
    done = app.wait_for_job(access, job["id"], timeout=JOB_TIMEOUT_S)
    assert_job(done, kind="render_svg", status="succeeded")
    assert updates[-1]["result"] == done["result"], (updates[-1], done)
    assert done["attempts"] == 1 and done["charged"] is True and done["refunded"] is False, done
    assert done["error"] is None and done["finished_at"] is not None, done
    result = done["result"]
    assert isinstance(result["width"], int) and result["width"] > 0, result
    assert isinstance(result["height"], int) and result["height"] > 0, result
    svg = result["svg"]
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>"), svg[:200]
    assert "<script" not in svg, f"the text was not escaped: {svg}"
    assert "&lt;script&gt;" in svg, f"the escaped text is not in the svg: {svg}"

    balance, entries = app.credit_ledger(access)
    charges = entries_for(entries, job["id"])
    assert [(e["kind"], e["amount"]) for e in charges] == [("job_charge", -1)], charges
    assert balance == 9


def test_the_same_render_input_gives_the_same_svg_and_options_change_it(app):
    user = new_user(app, "Determinist")
    access = user["access_token"]
    fund(app, user, 10)
    inputs = [{"text": "Same"}, {"text": "Same"}, {"text": "Same", "palette": "sunset", "shape": "pill"}]

    jobs = [app.submit_job(access, "render_svg", i) for i in inputs]
    done = [app.wait_for_job(access, j["id"], timeout=JOB_TIMEOUT_S) for j in jobs]

    assert [d["status"] for d in done] == ["succeeded"] * 3, done
    assert len({d["id"] for d in done}) == 3
    assert done[0]["result"] == done[1]["result"], "the same input rendered differently"
    assert done[2]["result"]["svg"] != done[0]["result"]["svg"], "palette and shape changed nothing"
    assert app.balance(access) == 7


def test_every_palette_and_shape_is_accepted(app, funded_user):
    access = funded_user["access_token"]
    options = [{"palette": p} for p in ("slate", "sunset", "forest", "ocean")] + \
              [{"shape": s} for s in ("rounded", "pill", "square")]

    for option in options:
        resp = app.create_job(access, render("Opts", **option), str(uuid.uuid4()))
        job = assert_json(resp, 202)
        assert_input(job, {"text": "Opts", **option})


@pytest.fixture(scope="module")
def funded_user(app):
    user = new_user(app, "Funded")
    fund(app, user, 100)
    return user


def test_twenty_parallel_submissions_with_one_key_create_one_job(app):
    alice, bob = new_user(app, "Alice"), new_user(app, "Bob")
    fund(app, alice, 5)
    fund(app, bob, 5)
    key = str(uuid.uuid4())
    body = render("Only once")

    responses = run_in_parallel(lambda _i: app.create_job(alice["access_token"], body, key), 20)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [202], statuses
    ids = {assert_json(r, r.status_code)["id"] for r in responses}
    assert len(ids) == 1, ids
    (job_id,) = ids
    # the same key with another body is refused, and creates nothing
    assert_problem(app.create_job(alice["access_token"], render("Something else"), key), 422,
                   "idempotency_key_mismatch")
    # keys are per user: Bob's identical request is a job of his own
    bobs = assert_json(app.create_job(bob["access_token"], body, key), 202)
    assert bobs["id"] != job_id
    assert app.wait_for_job(alice["access_token"], job_id, timeout=JOB_TIMEOUT_S)["status"] == "succeeded"
    assert app.wait_for_job(bob["access_token"], bobs["id"], timeout=JOB_TIMEOUT_S)["status"] == "succeeded"
    listed = assert_json(app.jobs(alice["access_token"]), 200)["jobs"]
    assert [j["id"] for j in listed] == [job_id], listed
    balance, entries = app.credit_ledger(alice["access_token"])
    assert [e["kind"] for e in entries if e["kind"].startswith("job_")] == ["job_charge"], entries
    assert balance == 4
    assert app.balance(bob["access_token"]) == 4


def test_a_replayed_submission_answers_200_with_the_same_job(app):
    user = new_user(app, "Replayer")
    fund(app, user, 5)
    key, body = str(uuid.uuid4()), render("Twice")

    first = assert_json(app.create_job(user["access_token"], body, key), 202)
    app.wait_for_job(user["access_token"], first["id"], timeout=JOB_TIMEOUT_S)
    again = assert_json(app.create_job(user["access_token"], body, key), 200)

    assert again["id"] == first["id"]
    assert_job(again, kind="render_svg")
    assert app.balance(user["access_token"]) == 4


def test_redelivering_a_finished_job_neither_runs_nor_charges_it_again(app):
    user, other = new_user(app, "Redeliverer"), new_user(app, "Stranger")
    access = user["access_token"]
    fund(app, user, 5)
    job = app.submit_job(access, "render_svg", {"text": "Once only"})
    done = app.wait_for_job(access, job["id"], timeout=JOB_TIMEOUT_S)
    assert done["status"] == "succeeded", done

    assert_problem(app.redeliver_job(other["access_token"], job["id"]), 404)
    resp = app.redeliver_job(access, job["id"])
    assert resp.status_code == 202, f"redeliver: {resp.status_code} {resp.text[:300]}"
    drain_job_queue(app, other["access_token"])  # the redelivered message has been handled

    after = assert_json(app.job(access, job["id"]), 200)
    assert after == done, f"the job changed after a redelivery:\nbefore {done}\nafter  {after}"
    balance, entries = app.credit_ledger(access)
    charges = entries_for(entries, job["id"])
    assert [(e["kind"], e["amount"]) for e in charges] == [("job_charge", -1)], charges
    assert balance == 4


def test_a_job_without_credits_fails_with_insufficient_credits_and_charges_nothing(app):
    user = new_user(app, "Broke")
    access = user["access_token"]

    job = app.submit_job(access, "render_svg", {"text": "No money"})
    done = app.wait_for_job(access, job["id"], timeout=JOB_TIMEOUT_S)

    assert_job(done, status="failed")
    assert error_code(done) == "insufficient_credits", done
    assert done["result"] is None and done["finished_at"] is not None, done
    assert done["charged"] is False and done["refunded"] is False, done
    balance, entries = app.credit_ledger(access)
    assert entries_for(entries, job["id"]) == [], entries
    assert (balance, entries) == (0, [])


def test_jobs_are_listed_newest_first_page_by_page_and_by_status(app):
    user, other = new_user(app, "Lister"), new_user(app, "Other")
    access = user["access_token"]
    fund(app, user, 3)
    fund(app, other, 1)
    theirs = app.submit_job(other["access_token"], "render_svg", {"text": "Not yours"})
    mine = []
    for n in range(3):  # one after the other, so the fourth is the one the credits do not cover
        mine.append(app.submit_job(access, "render_svg", {"text": f"Job {n}"}))
        app.wait_for_job(access, mine[-1]["id"], timeout=JOB_TIMEOUT_S)
    broke = app.submit_job(access, "render_svg", {"text": "One too many"})
    app.wait_for_job(access, broke["id"], timeout=JOB_TIMEOUT_S)

    listed = assert_json(app.jobs(access), 200)
    assert [j["id"] for j in listed["jobs"]] == [broke["id"]] + [j["id"] for j in reversed(mine)], listed
    assert listed["next_cursor"] is None
    for job in listed["jobs"]:
        assert_job(job, kind="render_svg")
    assert theirs["id"] not in {j["id"] for j in listed["jobs"]}
    succeeded = assert_json(app.jobs(access, status="succeeded"), 200)["jobs"]
    assert [j["id"] for j in succeeded] == [j["id"] for j in reversed(mine)], succeeded
    failed = assert_json(app.jobs(access, status="failed"), 200)["jobs"]
    assert [j["id"] for j in failed] == [broke["id"]], failed
    pages, cursor = [], None
    for _ in range(10):
        page = assert_json(app.jobs(access, limit=1, cursor=cursor), 200)
        pages.append([j["id"] for j in page["jobs"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i for p in pages for i in p] == [j["id"] for j in listed["jobs"]], pages
    assert all(len(p) <= 1 for p in pages), pages


def test_another_users_job_is_not_found(app):
    owner, other = new_user(app, "Owner"), new_user(app, "Nosy")
    job = app.submit_job(owner["access_token"], "render_svg", {"text": "Private"})

    assert_problem(app.job(other["access_token"], job["id"]), 404, "not_found")
    assert_problem(app.job(owner["access_token"], str(uuid.uuid4())), 404, "not_found")
    assert assert_json(app.job(owner["access_token"], job["id"]), 200)["id"] == job["id"]


def test_a_submission_without_idempotency_key_is_a_bad_request(app, funded_user):
    assert_problem(app.create_job(funded_user["access_token"], render("No key"), None), 400, "invalid_request")


def test_jobs_need_a_bearer_token(app):
    assert_problem(app.create_job(None, render("Anonymous"), str(uuid.uuid4())), 401)
    assert_problem(app.jobs(None), 401)
    assert_problem(app.job(None, str(uuid.uuid4())), 401)


@pytest.mark.parametrize("body", [
    pytest.param(render("x" * 65), id="text of 65 characters"),
    pytest.param(render(""), id="empty text"),
    pytest.param(render("Hi", palette="neon"), id="unknown palette"),
    pytest.param(render("Hi", shape="hexagon"), id="unknown shape"),
    pytest.param(render("Hi", colour="red"), id="unknown option"),
    pytest.param({"kind": "render_svg", "input": {}}, id="no text"),
    pytest.param({"kind": "render_svg", "input": {"text": 5}}, id="text not a string"),
    pytest.param({"kind": "mine_bitcoin", "input": {"text": "Hi"}}, id="unknown kind"),
    pytest.param({"kind": "render_svg"}, id="no input"),
    pytest.param({"input": {"text": "Hi"}}, id="no kind"),
    pytest.param({"kind": "dev_fail", "input": {"fail_attempts": 11}}, id="fail_attempts over 10"),
    pytest.param({"kind": "dev_fail", "input": {"fail_attempts": -1}}, id="negative fail_attempts"),
])
def test_an_invalid_job_is_a_bad_request(app, funded_user, body):
    assert_problem(app.create_job(funded_user["access_token"], body, str(uuid.uuid4())), 400, "invalid_request")


def test_a_text_of_64_characters_is_accepted(app, funded_user):
    body = render("x" * 64)

    job = assert_json(app.create_job(funded_user["access_token"], body, str(uuid.uuid4())), 202)

    assert_input(job, body["input"])


def test_job_stats_are_for_admins_only(app, funded_user):
    assert_problem(app.job_stats(funded_user["access_token"]), 403, "forbidden")
    assert_problem(app.job_stats(None), 401)


def test_redelivery_of_an_unknown_job_is_not_found(app, funded_user):
    assert_problem(app.redeliver_job(funded_user["access_token"], str(uuid.uuid4())), 404)
