"""Persistent, health-checked database connections in production; per request with DEBUG."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FERNET_KEY = "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmISE="


def database_settings(**environment: str) -> dict:
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        "d = settings.DATABASES['default']; "
        "print(json.dumps([d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS']]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ENV_FILE": "/dev/null",
            "SECRET_KEY": "x" * 50,
            "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
            **environment,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"DEBUG": "false"}, [60, True]),
        ({"DEBUG": "true"}, [0, True]),
        ({"DEBUG": "false", "CONN_MAX_AGE": "300", "CONN_HEALTH_CHECKS": "false"}, [300, False]),
        ({"DEBUG": "false", "DATABASE_URL": "postgres://u:p@db/r?conn_max_age=10"}, [10, True]),
    ],
)
def test_connections_are_kept_and_checked_as_configured(environment, expected):
    assert database_settings(**environment) == expected
