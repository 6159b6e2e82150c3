"""Python function calls and in-process CPU per request of the app in the tree it runs in.

`python /path/to/bench/calls.py < requests.json`, run with the tree to measure as the working
directory and first on PYTHONPATH (bench/compare.py runs it so in BASE's worktree and in this
tree): the app is that tree's config.wsgi, this file only drives it. So that it runs against
any revision, it imports nothing of the project but the WSGI application.

Input (stdin): {"warm_up": 5, "ops": {name: {"auth": "Bearer ...", "requests": [[method, path,
body], ...]}}}; `auth` as call() takes it.
Per operation, after the warm-up requests, half of the rest run under cProfile (it counts
every Python function call, built-ins too: the same code gives the same count on any machine,
at any hour) and the other half without it, timed with time.process_time() (this process's
CPU; the database's is not in it). Prints one JSON line:
{name: {"calls": per request, "cpu_ms": per request, "statuses": {status: count}}}.
"""

import cProfile
import io
import json
import pstats
import sys
import time
from collections import Counter
from pathlib import Path
from wsgiref.util import setup_testing_defaults


def call(application, method: str, path: str, body: str, auth: str) -> int:
    """One request to the WSGI `application`, as a client on loopback would send it; its
    status. `auth` is "Bearer <token>" (an Authorization header), a Cookie value, or ""."""
    path, _, query = path.partition("?")
    content = body.encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(content)),
        "wsgi.input": io.BytesIO(content),
    }
    if content:
        environ["CONTENT_TYPE"] = "application/json"
    if auth.startswith("Bearer "):
        environ["HTTP_AUTHORIZATION"] = auth
    elif auth:
        environ["HTTP_COOKIE"] = auth
    setup_testing_defaults(environ)
    status = []
    result = application(environ, lambda line, headers, exc_info=None: status.append(line))
    try:
        for _ in result:
            pass
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(status[0].split()[0])


def measure(application, ops: dict[str, dict], warm_up: int) -> dict:
    results = {}
    for name, given in ops.items():
        auth, requests = given["auth"], given["requests"]
        statuses: Counter[int] = Counter()
        for method, path, body in requests[:warm_up]:  # its failures count too
            statuses[call(application, method, path, body, auth)] += 1
        measured = requests[warm_up:]
        profiled, timed = measured[: len(measured) // 2], measured[len(measured) // 2 :]
        if not profiled or not timed:
            raise SystemExit(f"{name}: {len(requests)} requests leave none to measure")
        profile = cProfile.Profile()
        profile.enable()
        for method, path, body in profiled:
            statuses[call(application, method, path, body, auth)] += 1
        profile.disable()
        start = time.process_time()
        for method, path, body in timed:
            statuses[call(application, method, path, body, auth)] += 1
        elapsed = time.process_time() - start
        results[name] = {
            "calls": pstats.Stats(profile).total_calls / len(profiled),
            "cpu_ms": elapsed * 1000 / len(timed),
            "statuses": {str(status): n for status, n in sorted(statuses.items())},
        }
    return results


if __name__ == "__main__":
    # Run by its path, this file's folder is first on sys.path: its neighbours (ops.py,
    # run.py, ...) must not pass for top-level modules of the tree under measure.
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    given = json.load(sys.stdin)
    from config.wsgi import application  # the tree's own (see the docstring)

    print(json.dumps(measure(application, given["ops"], given["warm_up"])))
