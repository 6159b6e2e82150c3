"""The production server: gunicorn with config/gunicorn.conf.py, and `make serve`.

Real processes on loopback ports 8300-8399, a throw-away SQLite file (tests/servers/support.py).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import support

LIST = "/1.0/tenants/acme/integrations"


@pytest.fixture(scope="module")
def gunicorn(served_database, tmp_path_factory):
    database_url, _ = served_database
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    served = support.start_gunicorn(support.base_env(database_url), log)
    yield served
    served.stop()


def access_lines(served, request_id: str) -> list[str]:
    """The access log lines of one request (written once the answer is sent)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [
            line
            for line in served.log.read_text(errors="replace").splitlines()
            if "logger=gunicorn.access" in line and f"request_id={request_id} " in line
        ]
        if lines:
            return lines
        time.sleep(0.1)
    return []


def test_gunicorn_serves_the_api_with_a_token(gunicorn, served_database):
    _, token = served_database

    status, headers, body = support.request(
        gunicorn.port, "GET", LIST, headers={"Authorization": f"Bearer {token}"}
    )

    assert status == 200, body
    assert isinstance(json.loads(body), list)
    assert "no-store" in headers["Cache-Control"]


def test_each_request_is_one_key_value_access_line_with_its_request_id(gunicorn, served_database):
    _, token = served_database
    support.request(
        gunicorn.port,
        "GET",
        f"{LIST}?type=twilio",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Request-ID": "probe-42",
            "User-Agent": 'odd "agent" status=500',
        },
    )

    [line] = access_lines(gunicorn, "probe-42")
    assert re.fullmatch(
        r"time=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} level=INFO logger=gunicorn\.access "
        r'request_id=probe-42 method=GET path="/1\.0/tenants/acme/integrations" status=200 '
        r'bytes=\d+ duration_ms=\d+ client=127\.0\.0\.1 forwarded_for="-" '
        r'agent="odd \\"agent\\" status=500"',
        line,
    ), line
    log = gunicorn.log.read_text(errors="replace")
    assert token not in log
    assert "type=twilio" not in line  # no query string


def test_a_generated_request_id_is_in_the_access_line_too(gunicorn):
    _, headers, _ = support.request(gunicorn.port, "GET", "/healthz")

    assert access_lines(gunicorn, headers["X-Request-ID"])


def test_with_the_database_unreachable_readyz_and_the_api_answer_503_json(
    served_database, tmp_path
):
    _, token = served_database
    closed = support.free_port()  # nothing listens there: connections are refused
    env = support.base_env(f"postgres://registry:registry@127.0.0.1:{closed}/registry")
    served = support.start_gunicorn(env, tmp_path / "gunicorn.log")
    try:
        alive = support.request(served.port, "GET", "/healthz")
        ready = support.request(served.port, "GET", "/readyz")
        api = support.request(
            served.port, "GET", LIST, headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        served.stop()

    assert (alive[0], json.loads(alive[2])) == (200, {"status": "ok"})
    assert ready[0] == 503
    assert json.loads(ready[2]) == {
        "status": "unavailable",
        "error": "The database is unavailable; try again shortly.",
    }
    assert ready[1]["Retry-After"] == "5"
    assert api[0] == 503
    assert json.loads(api[2]) == {"error": "The database is unavailable; try again shortly."}


# --- make serve ------------------------------------------------------------------------------


def make_serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """`make serve` with this interpreter's venv, not reinstalled (make test installed it)."""
    venv_bin = Path(sys.executable).parent
    command = ["make", "-o", ".venv/.installed", "serve", f"BIN={venv_bin}", f"PORT={port}"]
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            cwd=support.ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make, manage.py and gunicorn: one group to stop
        )


def stop_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_make_serve_runs_the_production_profile_from_the_environment_alone(tmp_path):
    # A fresh database and no .env: only the variables given.
    env = support.base_env(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    port = support.free_port()
    process = make_serve(env, port, tmp_path / "serve.log")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not support.answers_http(port):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        ready = support.request(port, "GET", "/readyz")
        stylesheet = support.request(port, "GET", "/static/css/app.css")
        missing = support.request(port, "GET", "/no-such-page")
        login = support.request(port, "GET", "/accounts/login/")
    finally:
        stop_group(process)
    output = (tmp_path / "serve.log").read_text(errors="replace")

    assert ready[0] == 200, output[-3000:]  # migrated: the database answers
    assert stylesheet[0] == 200 and stylesheet[1]["Content-Type"].startswith("text/css")
    assert missing[0] == 404 and b"URLconf" not in missing[2]  # DEBUG is off
    assert login[0] == 200
    assert "Starting gunicorn" in output and "Using worker: gthread" in output


def test_make_serve_without_its_keys_stops_before_serving_and_says_which(tmp_path):
    env = {
        key: value
        for key, value in support.base_env(f"sqlite:///{tmp_path / 'x.sqlite3'}").items()
        if key != "SECRET_KEY"
    }
    process = make_serve(env, support.free_port(), tmp_path / "serve.log")
    try:
        process.wait(timeout=120)
    finally:
        stop_group(process)

    assert process.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is false" in (tmp_path / "serve.log").read_text()
