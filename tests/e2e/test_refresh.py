"""Refresh-token rotation under concurrency and for unknown tokens."""
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from e2e_support import assert_json, assert_problem

PARALLEL_REFRESHES = 10


def test_parallel_refreshes_of_one_token_all_get_the_same_successor(app):
    _email, _password, login = app.create_verified_user()
    start = threading.Barrier(PARALLEL_REFRESHES)

    def refresh_once(_):
        start.wait(timeout=30)
        return app.refresh(login["refresh_token"])

    with ThreadPoolExecutor(max_workers=PARALLEL_REFRESHES) as pool:
        responses = list(pool.map(refresh_once, range(PARALLEL_REFRESHES)))

    statuses = [r.status_code for r in responses]
    assert statuses == [200] * PARALLEL_REFRESHES, [r.text[:200] for r in responses]
    bodies = [r.json() for r in responses]
    successors = {b["refresh_token"] for b in bodies}
    assert len(successors) == 1, f"{len(successors)} different successors"
    assert {b["access_token"] for b in bodies} == {bodies[0]["access_token"]}
    (successor,) = successors
    assert successor != login["refresh_token"]
    assert {b["session_id"] for b in bodies} == {login["session_id"]}
    # the one successor is a live refresh token of a live session
    assert_json(app.me(bodies[0]["access_token"]), 200)
    assert_json(app.refresh(successor), 200)


def test_an_unknown_refresh_token_is_refused(app):
    resp = app.refresh(secrets.token_urlsafe(32))

    assert_problem(resp, 401, "invalid_refresh_token")


def test_an_access_token_is_not_accepted_as_a_refresh_token(app):
    _email, _password, login = app.create_verified_user()

    resp = app.refresh(login["access_token"])

    assert_problem(resp, 401, "invalid_refresh_token")
    assert_json(app.refresh(login["refresh_token"]), 200)
