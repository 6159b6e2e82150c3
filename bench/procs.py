"""Server processes of the benchmark (gunicorn with the app's production config), their CPU
time and memory (from /proc), and one wrk run."""

import ctypes
import getpass
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
    # The PostgreSQL database it serves from, and as which user (its backends' CPU is its
    # database CPU), if any.
    database: tuple[str, str] | None = None

    def stop(self) -> None:
        """Stop gunicorn, and any worker that outlives its master (the kernel's parent-death
        signal is not inherited by the workers the master forks)."""
        workers = self.workers()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown (no keep-alives)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # gone with its master, as it should
                continue

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


_PARALLEL_WORKER = re.compile(r"parallel worker for PID (\d+)")


def database_processes(
    database: str, user: str, *, titles: dict[int, str] | None = None
) -> dict[int, int] | None:
    """CPU ticks (utime + stime), by pid, of the PostgreSQL processes on this machine that
    serve `database` for `user`: its backends, found by their process titles (PostgreSQL's
    update_process_title, on by default: "postgres: [cluster_name: ]user database host(port)
    state"), and their parallel workers ("postgres: ...: parallel worker for PID <backend>").
    Other databases' backends and PostgreSQL's background processes are not counted: a
    neighbour's work is not the server's. None when no PostgreSQL process here shows a
    backend's title (a database elsewhere, or titles turned off).

    `titles`: the titles read before, by pid, kept up to date here, so that a process's
    title is read once (its user and database never change; DatabaseCpu reads every 50 ms)."""
    titles = _postgres_titles({} if titles is None else titles)
    served = _serving(database, user, titles)
    if served is None:
        return None
    return _ticks_of(served)


def _serving(database: str, user: str, titles: dict[int, str]) -> set[int] | None:
    """The pids among `titles` (pid -> PostgreSQL process title) that serve `database` for
    `user` (database_processes); None when none of the titles is a backend's."""
    backend = re.compile(
        rf"postgres: (?:.*?: )?{re.escape(user)} {re.escape(database)} (?:\S+\(\d+\)|\[local\]) "
    )
    any_backend = re.compile(r"postgres: .* (?:\S+\(\d+\)|\[local\]) ")
    if not any(any_backend.match(title) for title in titles.values()):
        return None
    served = {pid for pid, title in titles.items() if backend.match(title)}
    served |= {
        pid
        for pid, title in titles.items()
        if (leader := _PARALLEL_WORKER.search(title)) and int(leader.group(1)) in served
    }
    return served


def _ticks_of(pids) -> dict[int, int]:
    """utime + stime by pid, of those of `pids` still here (a zombie's are its final ones)."""
    found = {}
    for pid in pids:
        try:
            found[pid] = _stat_ticks(pid, missing_raises=True)
        except OSError:
            continue
    return found


def _reaped_ticks(pid: int) -> int:
    """The CPU ticks of `pid`'s children that have exited and been waited for (cutime +
    cstime, proc(5)): the kernel adds a child's whole time to its parent's as it is reaped."""
    fields = _stat_fields(pid)
    return int(fields[13]) + int(fields[14])


def _parent_pid(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def _postgres_titles(known: dict[int, str]) -> dict[int, str]:
    """The PostgreSQL processes' titles by pid: `known` updated in place (the titles of pids
    gone dropped, new pids' read; "" for a process that is not PostgreSQL's)."""
    entries = {int(entry.name): entry for entry in Path("/proc").iterdir() if entry.name.isdigit()}
    for pid in set(known) - set(entries):
        del known[pid]
    for pid in set(entries) - set(known):
        try:
            # One string with spaces as PostgreSQL sets it; NULs between words elsewhere.
            raw = (entries[pid] / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        title = raw.replace(b"\0", b" ").decode("utf-8", "replace")
        known[pid] = title + " " if title.startswith("postgres: ") else ""
    return {pid: title for pid, title in known.items() if title}


@dataclass
class _Snapshot:
    """One reading of a PostgreSQL cluster: the ticks of the processes serving the database
    (`served`) and of every child of its postmaster (`children`), and the ticks of the
    postmaster's children already reaped (`reaped`; None when its postmaster is not known)."""

    served: dict[int, int]
    children: dict[int, int]
    reaped: int | None


class DatabaseCpu:
    """The CPU ticks the PostgreSQL processes serving one database (database_processes) spend
    while the block runs. A thread reads /proc every `interval` seconds (50 ms: about 1 % of a
    core for the reading), and each process is counted by its growth since the start (a pid
    whose time goes down is a new process under an old pid: counted whole).

    A process that exits meanwhile (a connection closed, a recycled gunicorn worker's, a
    parallel query's worker) did work after it was last seen. Its whole time reaches its
    parent's, the postmaster's, reaped time (cutime + cstime) as it is reaped; so what the
    postmaster reaped between two readings, less what was last seen of the children that
    exited between them, is the time no reading saw. It is credited to the database in the
    share of those exited children that served it: all of it when only its own exited, none
    when only a neighbour's did or none exited (a process born and gone between two readings,
    whose database is unknown). Each reading is taken while the postmaster reaps nothing
    (its reaped time the same before and after), so that an exit cannot fall between a
    reading's parts. Without the postmaster's times (not ours to read), at most `interval` of
    an exited process's work is missed.

    `ticks`: None when not measured (no backend titles here). `interval` None: no thread,
    only the readings at the start, at the end, and of `sample()`."""

    def __init__(self, database: str, user: str, *, interval: float | None = 0.05) -> None:
        self.database, self.user, self.interval = database, user, interval
        self._start: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._done = 0  # ticks of processes whose pid was taken over
        self._unseen = 0.0  # ticks of exited processes that no reading saw (credited share)
        self._previous: _Snapshot | None = None
        self._postmaster: int | None = None
        self._parents: dict[int, int] = {}  # pid -> parent pid, read once per process
        self._measured = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._titles: dict[int, str] = {}

    def sample(self) -> None:
        snapshot = self._snapshot()
        if snapshot is None:
            return
        self._measured = True
        if self._previous is not None:
            self._credit_unseen(self._previous, snapshot)
        self._previous = snapshot
        for pid, ticks in snapshot.served.items():
            last = self._last.get(pid)
            if last is not None and ticks < last:
                self._done += last - self._start.get(pid, 0)
                self._start[pid] = 0
            self._start.setdefault(pid, 0)
            self._last[pid] = ticks

    def _snapshot(self) -> _Snapshot | None:
        for _attempt in range(10):  # reaps are rare: a second try is all it ever takes
            reaped_before = self._reaped()
            snapshot = self._read()
            if snapshot is None or snapshot.reaped == reaped_before:
                break
        return snapshot

    def _read(self) -> _Snapshot | None:
        titles = _postgres_titles(self._titles)
        served = _serving(self.database, self.user, titles)
        if served is None:
            if self._previous is None:
                return None  # not measured here (database_processes)
            served = set()  # measured, and its last backend gone meanwhile
        children = _ticks_of(pid for pid in titles if self._child(pid, served))
        served_ticks = {pid: children[pid] for pid in served if pid in children}
        return _Snapshot(served_ticks, children, self._reaped())

    def _child(self, pid: int, served: set[int]) -> bool:
        """Whether `pid` is a child of the served database's postmaster (found here: the
        parent of its first backend seen)."""
        if pid not in self._parents:
            try:
                self._parents[pid] = _parent_pid(pid)
            except (OSError, ValueError, IndexError):
                return False
        if self._postmaster is None and pid in served:
            self._postmaster = self._parents[pid]
        return self._postmaster is None or self._parents[pid] == self._postmaster

    def _reaped(self) -> int | None:
        if self._postmaster is None:
            return None
        try:
            return _reaped_ticks(self._postmaster)
        except (OSError, ValueError, IndexError):
            return None

    def _credit_unseen(self, before: _Snapshot, now: _Snapshot) -> None:
        if before.reaped is None or now.reaped is None:
            return
        exited = {
            pid: last
            for pid, last in before.children.items()
            if pid not in now.children or now.children[pid] < last
        }
        if not exited:
            return
        unseen = now.reaped - before.reaped - sum(exited.values())
        served = sum(1 for pid in exited if pid in before.served)
        self._unseen += max(unseen, 0) * served / len(exited)

    def __enter__(self) -> "DatabaseCpu":
        self.sample()
        self._start = dict(self._last)  # time before the block is not the block's
        if self.interval is not None:
            self._thread = threading.Thread(target=self._follow, daemon=True)
            self._thread.start()
        return self

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    @property
    def ticks(self) -> int | None:
        if not self._measured:
            return None
        seen = self._done + sum(last - self._start.get(pid, 0) for pid, last in self._last.items())
        return seen + round(self._unseen)


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


@contextmanager
def redis_cache(logs: Path, *, timeout: float = 20) -> Iterator[str]:
    """A private redis-server on loopback for the app's rate-limit counters, as production
    has one (CACHE_URL): yields its URL, stops it afterwards. No persistence; it dies with the
    bench however the bench dies (PR_SET_PDEATHSIG). SystemExit when redis-server is missing
    or does not start."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit(
            "redis-server is missing (apt-get install redis-server); or measure with the "
            "per-process cache: --cache memory"
        )
    port = free_port()
    log = logs / "redis.log"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(logs), "--logfile", str(log)]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
    )
    try:
        deadline = time.monotonic() + timeout
        # Ours, not another server that took the port first (ours then exits, "Address
        # already in use"): the one answering must be our process.
        while _redis_pid(port) != process.pid:
            if process.poll() is not None or time.monotonic() > deadline:
                text = log.read_text()[-2000:] if log.exists() else ""
                raise SystemExit(f"redis-server did not start:\n{text}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _redis_pid(port: int) -> int | None:
    """The process id of the Redis answering on `port` (INFO server), None if none answers."""
    import redis  # the app's own dependency (its rate limits), in the bench's virtualenv

    try:
        return int(redis.Redis(port=port, socket_timeout=1).info("server")["process_id"])
    except (redis.RedisError, OSError, KeyError, ValueError):
        return None


def _postgres_database(env: dict[str, str]) -> tuple[str, str] | None:
    url = urlsplit(env.get("DATABASE_URL", ""))
    if not url.scheme.startswith("postgres") or not url.path.lstrip("/"):
        return None
    return unquote(url.path.lstrip("/")), unquote(url.username or getpass.getuser())


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
    database_cpu = DatabaseCpu(*server.database) if server.database else nullcontext(None)
    with database_cpu as followed:
        cpu_before = server.cpu_seconds()
        result = subprocess.run(  # noqa: S603 (our own command line)
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        cpu = server.cpu_seconds() - cpu_before
    db_ticks = followed.ticks if followed is not None else None
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
