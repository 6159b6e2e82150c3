"""config/gunicorn.conf.py reads its numbers from the environment (README's table): a value that
is no whole number in range stops it with one line naming the variable."""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "config" / "gunicorn.conf.py"


@pytest.mark.parametrize(
    ("given", "max_requests", "jitter"),
    [(None, 20_000, 2_000), ("0", 0, 0), ("5000", 5_000, 500)],
)
def test_workers_are_recycled_after_the_configured_requests(
    monkeypatch, given, max_requests, jitter
):
    if given is None:
        monkeypatch.delenv("GUNICORN_MAX_REQUESTS", raising=False)
    else:
        monkeypatch.setenv("GUNICORN_MAX_REQUESTS", given)

    conf = runpy.run_path(str(CONF))

    assert (conf["max_requests"], conf["max_requests_jitter"]) == (max_requests, jitter)


@pytest.mark.parametrize(
    ("name", "given"),
    [
        ("GUNICORN_MAX_REQUESTS", "abc"),
        ("GUNICORN_MAX_REQUESTS", "-1"),
        ("GUNICORN_WORKERS", "0"),
        ("GUNICORN_THREADS", "2.5"),
        ("GUNICORN_TIMEOUT", ""),
    ],
)
def test_a_value_that_is_no_whole_number_stops_with_its_name(monkeypatch, name, given):
    monkeypatch.setenv(name, given)

    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(CONF))

    assert str(stopped.value).startswith(f"{name} must be a whole number from ")
    assert repr(given) in str(stopped.value)


def test_gunicorn_itself_says_which_variable_is_wrong_without_a_traceback():
    """What an operator sees: gunicorn reading the config stops with the one line."""
    environment = {**os.environ, "GUNICORN_WORKERS": "many", "ENV_FILE": "/dev/null"}

    finished = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "--config", str(CONF), "config.wsgi"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=CONF.parents[1],
        timeout=60,
    )

    assert finished.returncode != 0
    assert "GUNICORN_WORKERS must be a whole number from 1 to 256, not 'many'." in finished.stderr
    assert "Traceback" not in finished.stderr
