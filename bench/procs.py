"""Server processes of the benchmark (gunicorn with the app's production config), their CPU
time and memory (from /proc), and one wrk run."""

import ctypes
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LUA = Path(__file__).resolve().parent / "wrk" / "ops.lua"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log: Path
    # The PostgreSQL database it serves from (its backends' CPU is its database CPU), if any.
    database: str | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown (no keep-alives)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def workers(self) -> list[int]:
        return children_of(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU time of the master and every worker, live or exited (a reaped worker's time is
        in its parent's cutime/cstime: workers are recycled after max_requests)."""
        total = _stat_ticks(self.process.pid, children_too=True)
        total += sum(_stat_ticks(pid) for pid in self.workers())
        return total / TICKS


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "


def _stat_ticks(pid: int, *, children_too: bool = False, missing_raises: bool = False) -> int:
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        if missing_raises:
            raise
        return 0
    # fields[0] is state (field 3): utime, stime, cutime, cstime are fields 14-17.
    ticks = int(fields[11]) + int(fields[12])
    if children_too:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == parent:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                continue
    return sorted(found)


# A backend's process title (PostgreSQL's update_process_title, on by default) is
# "postgres: [cluster_name: ]user database host(port) state"; the address marks it.
_BACKEND_ADDRESS = re.compile(r"\S+\(\d+\)|\[local\]")


def postgres_backend_ticks(database: str) -> dict[int, int] | None:
    """CPU ticks (utime + stime) of each PostgreSQL backend on this machine connected to
    `database`, by pid, found by their process titles; None when no PostgreSQL process here
    shows a backend's title (a database elsewhere, or titles turned off). Backends of other
    databases and PostgreSQL's background processes are not counted: a neighbour's work is
    not the server's. See ticks_spent."""
    found: dict[int, int] = {}
    titled = False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # One string with spaces as PostgreSQL sets it; NULs between words elsewhere.
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            title = title.split()
            if not title or title[0] != "postgres:":
                continue
            at = next((i for i, word in enumerate(title) if _BACKEND_ADDRESS.fullmatch(word)), 0)
            if at < 2:  # a background process: "postgres: 15/main: walwriter"
                continue
            titled = True
            if title[at - 1] == database:
                found[int(entry.name)] = _stat_ticks(int(entry.name), missing_raises=True)
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found if titled else None


def ticks_spent(before: dict[int, int] | None, after: dict[int, int] | None) -> int | None:
    """The ticks the backends spent between two postgres_backend_ticks snapshots: each
    backend's growth, a new one's whole time. Never negative. A backend that exited in
    between takes its time with it (bench/compare.py keeps connections open for the whole
    run, so that none does); None when either snapshot is."""
    if before is None or after is None:
        return None
    spent = 0
    for pid, ticks in after.items():
        grown = ticks - before.get(pid, 0)
        spent += grown if grown >= 0 else ticks  # a pid reused by a new backend
    return spent


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            values[key] = int(rest.split()[0])
    return values


def answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def start_gunicorn(
    name: str, module: str, env: dict[str, str], logs: Path, *, root: Path = ROOT
) -> Server:
    """gunicorn with `root`'s config/gunicorn.conf.py (gthread, its workers x threads) serving
    `module` from `root` (this tree by default; bench/compare.py serves another revision's) on
    loopback; returns at once (see wait_until_up)."""
    port = free_port()
    log = logs / f"{name}.log"
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    # --chdir: gunicorn puts `root` first on sys.path, so its modules are the ones imported.
    command = [str(BIN / "gunicorn"), "--config", str(root / "config" / "gunicorn.conf.py"),
               "--chdir", str(root), module]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (our own command line)
            command,
            cwd=root,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Run between fork and exec: safe here, where no other thread runs.
            preexec_fn=_die_with_parent,
        )
    return Server(name, process, port, log, database=_postgres_database(env))


def _postgres_database(env: dict[str, str]) -> str | None:
    url = urlsplit(env.get("DATABASE_URL", ""))
    if not url.scheme.startswith("postgres"):
        return None
    return url.path.lstrip("/") or None


def _die_with_parent() -> None:
    """In the forked child, before gunicorn starts: the kernel sends it SIGTERM when the bench
    process dies, however it dies (SIGKILL included), so no server outlives its run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_json(command: list[str], *, what: str, cwd: Path, env: dict[str, str], stdin: str = ""):
    """Run one of the bench's own measuring scripts and return the JSON of its last line of
    output; SystemExit with the end of its stderr if it fails."""
    result = subprocess.run(  # noqa: S603 (our own command line)
        command,
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{what} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def wait_until_up(server: Server, workers: int, timeout: float = 90) -> None:
    """Until `server` answers HTTP and has all its workers; SystemExit if it exits or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name}: gunicorn exited:\n{server.log.read_text()[-3000:]}")
        if answers(server.port) and len(server.workers()) >= workers:
            return
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"{server.name}: gunicorn did not answer:\n{server.log.read_text()[-3000:]}")


def request(port: int, method: str, path: str, body: str, auth: str) -> tuple[int, bytes]:
    headers = {}
    if auth.startswith("Bearer "):
        headers["Authorization"] = auth
    elif auth:
        headers["Cookie"] = auth
    if body:
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body.encode() or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wrk(
    server: Server,
    *,
    method: str,
    path: str,
    body: str,
    tenants: int,
    prefix: str,
    auth: str,
    seconds: int,
    threads: int = 2,
    connections: int = 8,
) -> dict:
    """One wrk run against `server`: its BENCH_RESULT line, plus rps and the servers' CPU."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
               "-s", str(LUA), f"http://127.0.0.1:{server.port}",
               "--", method, path, body, str(tenants), prefix, auth]  # fmt: skip
    database = server.database
    db_before = postgres_backend_ticks(database) if database else None
    cpu_before = server.cpu_seconds()
    result = subprocess.run(  # noqa: S603 (our own command line)
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    cpu = server.cpu_seconds() - cpu_before
    db_ticks = ticks_spent(db_before, postgres_backend_ticks(database) if database else None)
    line = next(
        (line for line in result.stdout.splitlines() if line.startswith("BENCH_RESULT ")), None
    )
    if result.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    run = json.loads(line.removeprefix("BENCH_RESULT "))
    run["rps"] = run["requests"] / (run["duration_us"] / 1e6)
    run["server_cpu_ms_per_request"] = cpu * 1000 / run["requests"] if run["requests"] else None
    # The server's database backends' CPU; not measured without a local database.
    run["db_cpu_ms_per_request"] = (
        db_ticks / TICKS * 1000 / run["requests"]
        if run["requests"] and db_ticks is not None
        else None
    )
    return run
