"""config/gunicorn.conf.py reads its worker recycling from the environment (README's table)."""

import runpy
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
