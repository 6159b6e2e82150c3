"""In-process CPU time per request:
`python -m bench.cpu TARGET OPS TENANTS TOKENS COOKIE`.

Calls the WSGI application of TARGET (app: config.wsgi; django: the bare Django floor; wsgi:
the bare WSGI floor) directly, no server and no network, for each of OPS (comma-separated
`name:requests`, names from bench/ops.py): a few warm-up calls, then that many calls timed
with time.process_time() (this process's CPU, not the database's); API operations carry
`Authorization: Bearer` the token of their Op.scopes (TOKENS: a JSON object of plaintexts by
those names, bench.seed.api_tokens), pages the staff session's COOKIE. Prints one JSON object:
{op: {"cpu_ms": ..., "non2xx": ..., "statuses": {...}}}. Run in its own process because the
app and the Django floor are two settings modules. Environment: as the servers get it.
"""

import json
import sys
import time
from collections import Counter

from bench.calls import call
from bench.ops import BY_NAME, auth_for, requests_for

WARM_UP = 5


def application_of(target: str):
    if target == "app":
        from config.wsgi import application
    elif target == "django":
        from bench.floor_django_wsgi import application
    elif target == "wsgi":
        from bench.floor_wsgi import application
    else:
        raise SystemExit(f"unknown target {target!r}")
    return application


def measure(
    target: str, ops: dict[str, int], tenants: int, tokens: dict[str, str], cookie: str
) -> dict:
    application = application_of(target)
    results = {}
    for name, requests in ops.items():
        auth = auth_for(BY_NAME[name], tokens, cookie)
        calls = requests_for(BY_NAME[name], tenants=tenants, prefix=f"cpu{target}", seed=7)
        statuses: Counter[int] = Counter()
        for _ in range(WARM_UP):
            call(application, *next(calls), auth)
        batch = [next(calls) for _ in range(requests)]
        start = time.process_time()
        for method, path, body in batch:
            statuses[call(application, method, path, body, auth)] += 1
        elapsed = time.process_time() - start
        results[name] = {
            "cpu_ms": elapsed * 1000 / requests,
            "non2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
            "statuses": {str(status): n for status, n in sorted(statuses.items())},
        }
    return results


if __name__ == "__main__":
    target, ops, tenants, tokens, cookie = sys.argv[1:6]
    wanted = {name: int(count) for name, _, count in (op.partition(":") for op in ops.split(","))}
    print(json.dumps(measure(target, wanted, int(tenants), json.loads(tokens), cookie)))
