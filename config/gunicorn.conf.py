"""gunicorn settings for production: `make serve`, or
`gunicorn --config config/gunicorn.conf.py config.wsgi` (README, "Operations").

gthread workers: each worker process runs GUNICORN_THREADS threads, so a request waiting on the
database does not hold a whole process. Rate-limit counters are shared through CACHE_URL, not
per worker. One line per request on stdout, key=value like the application's own log lines
(stderr), carrying the request id the application echoed in X-Request-ID.
"""

import os
import sys
import time
from pathlib import Path

from gunicorn.glogging import Logger

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # config.env, whichever directory gunicorn started in
    sys.path.insert(0, str(_ROOT))

from config.env import DEFAULT_ENV_FILE, environment_with_file  # noqa: E402 (_ROOT first)

# As the application's settings read them (config/settings.py): the environment, then the
# .env file (ENV_FILE, or .env beside manage.py) for what the environment does not set.
_environment = environment_with_file(os.environ.get("ENV_FILE", str(DEFAULT_ENV_FILE)))


def _whole_number(name: str, default: int, *, least: int, most: int) -> int:
    """The environment's (or .env's) `name` as a whole number from `least` to `most`, written
    in ASCII digits (blanks around it allowed); `default` when it is not set. Anything else
    stops gunicorn with one line naming the variable (int() would take "+5", "1_000" or
    a fullwidth digit, and a number that no machine serves: a billion workers are a fork bomb)."""
    given = _environment.get(name)
    if given is None:
        return default
    digits = given.strip()
    fits = digits.isascii() and digits.isdigit() and len(digits) <= len(str(most))
    if not (fits and least <= int(digits) <= most):
        raise SystemExit(f"{name} must be a whole number from {least} to {most}, not {given!r}.")
    return int(digits)


# Where to listen; behind a proxy on the same machine keep loopback.
bind = _environment.get("GUNICORN_BIND", "127.0.0.1:8000")
# Processes x threads: ~2 processes per core; each thread may hold one database connection.
workers = _whole_number("GUNICORN_WORKERS", 2, least=1, most=256)
worker_class = "gthread"
threads = _whole_number("GUNICORN_THREADS", 4, least=1, most=256)
# A request past this many seconds gets its worker restarted (the database statement timeout,
# DATABASE_STATEMENT_TIMEOUT, 30 s, ends a slow query first); 0: none (gunicorn's meaning).
timeout = _whole_number("GUNICORN_TIMEOUT", 60, least=0, most=86_400)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (bounded memory growth), not all at once. A worker's start
# costs ~0.8 s of CPU (importing Django, DRF and the app): at 2,000 requests, as this was,
# that was ~0.4 ms on every request, 8 % of an API write's CPU; at 20,000, 0.04 ms. The
# workers' RSS holds at ~95 MiB under load (bench), so nothing argues for recycling sooner.
max_requests = _whole_number("GUNICORN_MAX_REQUESTS", 20_000, least=0, most=10**9)  # 0: never
max_requests_jitter = max_requests // 10
# The addresses whose X-Forwarded-Proto gunicorn trusts (the proxy in front, if any).
forwarded_allow_ips = _environment.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Bodies: gunicorn de-chunks Transfer-Encoding: chunked (the application bounds the size);
# a request line or header beyond these limits is refused before Django sees it.
limit_request_line = 8190
limit_request_fields = 100
# No control socket (gunicorn 24+ opens one under $HOME by default): it is not used, and two
# servers on one machine would fight over the same path.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = _environment.get("GUNICORN_LOG_LEVEL", "info")
# Free text (path, user agent, forwarded addresses) is quoted; gunicorn escapes the quotes
# inside, so a space or quote can neither split nor forge a field (a newline cannot reach a
# header). No query string: not needed, and where callers put things they should not.
access_log_format = (
    "time=%(t)s level=INFO logger=gunicorn.access request_id=%({x-request-id}o)s "
    'method=%(m)s path="%(U)s" status=%(s)s bytes=%(B)s duration_ms=%(M)s client=%(h)s '
    'forwarded_for="%({x-forwarded-for}i)s" agent="%(a)s"'
)
# gunicorn's own messages (start, worker exits, timeouts) in the same shape.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "keyvalue": {
            "format": "time=%(asctime)s level=%(levelname)s logger=%(name)s request_id=- "
            "message=%(message)r"
        },
        "access": {"format": "%(message)s"},
    },
    "handlers": {
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "keyvalue",
            "stream": "ext://sys.stderr",
        },
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}


class KeyValueAccessLogger(Logger):
    """The access line's timestamp written as the application writes its own."""

    def now(self):
        seconds = time.time()
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + (
            f",{int(seconds * 1000) % 1000:03d}"
        )


logger_class = KeyValueAccessLogger
