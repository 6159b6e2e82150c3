"""Production refuses to start without its keys, and passes `check --deploy` with TLS on.

Each case runs manage.py in a subprocess with a clean environment, as a deployment would.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FERNET_KEY = "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmISE="
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
    "DATABASE_URL": "sqlite:////tmp/never-created.sqlite3",
    "ALLOWED_HOSTS": "registry.example.com",
}
# A cache every server process shares: without it, check --deploy warns (tenants.W001).
SHARED_CACHE = {"CACHE_URL": "redis://127.0.0.1:6379/0"}
TLS_ON = {
    "SECURE_SSL_REDIRECT": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only PATH and the given variables: nothing from the developer's shell or CI leaks in.
    # ENV_FILE=/dev/null: a developer's .env (from `make run`) is not read either.
    clean = {"PATH": os.environ["PATH"], "ENV_FILE": "/dev/null", **env}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=clean,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_its_keys(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert f"{missing} must be set when DEBUG is false" in result.stderr


@pytest.mark.parametrize("debug", ["true", "false"])
def test_the_server_refuses_to_start_with_an_invalid_encryption_key(debug):
    keys = f"{FERNET_KEY},not-a-fernet-key"
    env = {**PRODUCTION, "DEBUG": debug, "FIELD_ENCRYPTION_KEYS": keys}

    # The WSGI application is what a server loads: it must not come up at all.
    result = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        env={"PATH": os.environ["PATH"], "ENV_FILE": "/dev/null", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS entry 2 is not a Fernet key" in result.stderr
    assert "not-a-fernet-key" not in result.stderr  # the key itself is never printed
    assert manage("check", env=env).returncode != 0


def test_production_with_tls_options_passes_check_deploy():
    env = {**PRODUCTION, **TLS_ON, **SHARED_CACHE}

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_the_rate_limits_cache_is_per_process():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, **TLS_ON})

    assert result.returncode != 0
    assert "tenants.W001" in result.stderr
    assert "CACHE_URL" in result.stderr


def settings_seen_with(env_file: Path, **environment: str) -> dict:
    """DEBUG and SECRET_KEY as Django reads them, from `env_file` plus `environment`."""
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'DEBUG': settings.DEBUG, 'SECRET_KEY': settings.SECRET_KEY, "
        "'DATABASE': settings.DATABASES['default'].get('PASSWORD', '')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ENV_FILE": str(env_file),
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
    ("line", "expected"),
    [
        ("SECRET_KEY=$starts-with-a-dollar-0123456789", "$starts-with-a-dollar-0123456789"),
        ("SECRET_KEY=abc-prod-key-0123456789  # prod key", "abc-prod-key-0123456789"),
        ("SECRET_KEY=has#hash-inside-0123456789", "has#hash-inside-0123456789"),
        ("SECRET_KEY='quoted # not a comment $HOME'", "quoted # not a comment $HOME"),
        ('SECRET_KEY="double quoted $HOME  "', "double quoted $HOME  "),
        ("export SECRET_KEY=exported-0123456789", "exported-0123456789"),
    ],
)
def test_a_dotenv_value_is_read_literally(tmp_path, line, expected):
    env_file = tmp_path / ".env"
    env_file.write_text(f"DEBUG=false\nFIELD_ENCRYPTION_KEYS={FERNET_KEY}\n{line}\n")

    assert settings_seen_with(env_file)["SECRET_KEY"] == expected


@pytest.mark.parametrize("line", ["DEBUG=true  # local", "DEBUG=true", "DEBUG='true' # on"])
def test_an_inline_comment_after_debug_is_a_comment(tmp_path, line):
    env_file = tmp_path / ".env"
    env_file.write_text(f"{line}\nFIELD_ENCRYPTION_KEYS={FERNET_KEY}\n")

    assert settings_seen_with(env_file)["DEBUG"] is True


def test_an_environment_variable_starting_with_a_dollar_is_literal_too(tmp_path):
    seen = settings_seen_with(
        Path("/dev/null"),
        DEBUG="false",
        FIELD_ENCRYPTION_KEYS=FERNET_KEY,
        SECRET_KEY="$NOT_A_REFERENCE-0123456789",
        DATABASE_URL="postgres://registry:pa$$word@127.0.0.1:5432/registry",
    )

    assert seen["SECRET_KEY"] == "$NOT_A_REFERENCE-0123456789"
    assert seen["DATABASE"] == "pa$$word"


def test_the_environment_wins_over_the_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"DEBUG=true\nSECRET_KEY=from-the-file\nFIELD_ENCRYPTION_KEYS={FERNET_KEY}\n"
    )

    seen = settings_seen_with(env_file, SECRET_KEY="from-the-environment")

    assert seen["SECRET_KEY"] == "from-the-environment"


@pytest.mark.parametrize("kept", ["0", "-3"])
def test_keeping_no_version_is_refused_at_start(kept):
    # The current values are always a version: with none kept, history, rollback and the
    # one-statement write (its prune cannot see the version it inserts) would disagree.
    result = manage("check", env={**PRODUCTION, "INTEGRATION_VERSIONS_KEPT": kept})

    assert result.returncode != 0
    assert "INTEGRATION_VERSIONS_KEPT must be at least 1." in result.stderr


ODD_SECONDS = ["-1", "nan", "inf", "-inf", "1e400", "3601", "1.5", "", "\u0661\u0665", "15s", "ten"]


@pytest.mark.parametrize("seconds", ODD_SECONDS)
def test_remembering_tokens_for_an_odd_time_is_refused_at_start(seconds):
    # Not a whole number of seconds, or longer than an hour: the longest a change that the
    # store missed may go unseen (tenants/token_cache.py).
    result = manage("check", env={**PRODUCTION, "API_TOKEN_CACHE_SECONDS": seconds})

    assert result.returncode != 0
    assert "API_TOKEN_CACHE_SECONDS must be a whole number of seconds from 0 (off) to 3600." in (
        result.stderr
    )


@pytest.mark.parametrize("seconds", ["0", "15", "3600"])
def test_remembering_tokens_for_a_time_in_range_starts(seconds):
    result = manage("check", env={**PRODUCTION, "API_TOKEN_CACHE_SECONDS": seconds})

    assert result.returncode == 0, result.stderr
