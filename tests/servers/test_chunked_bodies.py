"""Chunked bodies against real servers: gunicorn de-chunks them and the body is read (with
the 1 MiB limit); runserver does not, and the answer is 411, never an empty body."""

import json

import pytest

from tests.servers import support

MIB = 1024 * 1024
TWILIO = "/1.0/tenants/acme/integrations/twilio-chunked"


@pytest.fixture(scope="module")
def servers(served_database, tmp_path_factory):
    database_url, _ = served_database
    env = support.base_env(database_url)
    logs = tmp_path_factory.mktemp("chunked")
    gunicorn = support.start_gunicorn(env, logs / "gunicorn.log")
    try:
        runserver = support.start_runserver(env, logs / "runserver.log")
    except Exception:
        gunicorn.stop()
        raise
    yield {"gunicorn": gunicorn, "runserver": runserver}
    gunicorn.stop()
    runserver.stop()


@pytest.fixture
def headers(served_database):
    _, token = served_database
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def send(server, method: str, headers, body: bytes, *, chunk_size: int = 7):
    chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    status, _, answer = support.request(server.port, method, TWILIO, headers=headers, chunks=chunks)
    return status, json.loads(answer)


def record(server, headers):
    status, _, body = support.request(server.port, "GET", TWILIO, headers=headers)
    assert status == 200, body
    return json.loads(body)


def test_gunicorn_reads_a_chunked_post_and_a_chunked_patch(servers, headers):
    gunicorn = servers["gunicorn"]
    created = json.dumps({"type": "twilio", "account": "AC-1", "password": "pw-1"}).encode()

    post = send(gunicorn, "POST", headers, created)
    patch = send(gunicorn, "PATCH", headers, json.dumps({"account": "AC-2"}).encode())

    assert post[0] in (200, 201), post
    assert patch[0] == 200, patch
    assert record(gunicorn, headers)["account"] == "AC-2"


def test_gunicorn_refuses_a_chunked_body_over_1_mib_with_413(servers, headers):
    gunicorn = servers["gunicorn"]
    send(gunicorn, "POST", headers, b'{"type": "twilio", "account": "AC-3", "password": "pw"}')
    start = json.dumps({"account": "AC-HUGE"}).encode()
    body = start + b" " * (MIB + 1 - len(start))

    status, answer = send(gunicorn, "PATCH", headers, body, chunk_size=64 * 1024)

    assert status == 413
    assert answer == {"error": "The request body is larger than the limit of 1 MiB."}
    assert record(gunicorn, headers)["account"] == "AC-3"


def test_runserver_answers_a_chunked_patch_with_411_and_changes_nothing(servers, headers):
    gunicorn, runserver = servers["gunicorn"], servers["runserver"]
    send(gunicorn, "POST", headers, b'{"type": "twilio", "account": "AC-4", "password": "pw"}')

    status, answer = send(runserver, "PATCH", headers, json.dumps({"account": "AC-5"}).encode())

    assert status == 411
    assert "Content-Length" in answer["error"]
    assert record(gunicorn, headers)["account"] == "AC-4"
