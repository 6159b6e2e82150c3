"""Real server processes for tests: a throw-away database, redis-server, runserver, gunicorn.

Every process listens on loopback, on a free port in 8300-8399, and is stopped (by its own
process id) when its fixture ends. Their output goes to a log file whose tail is shown when
a process does not come up.
"""

import http.client
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FERNET_KEY = "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmISE="
PORTS = range(8300, 8400)


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, not handed out before in this test run (a test may hold one
    unused on purpose, as a closed port, while it starts a server)."""
    for port in PORTS:
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    _handed_out.clear()
    raise RuntimeError("No free port in 8300-8399 (try again).")


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    """Production settings, nothing from the developer's shell or .env."""
    return {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "/dev/null",
        "DEBUG": "false",
        "SECRET_KEY": "server-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        **extra,
    }


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@dataclass
class Served:
    """A running process and where it listens."""

    process: subprocess.Popen
    port: int
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start(command: list[str], *, port: int, env: dict[str, str], log: Path, ready) -> Served:
    """Start `command` and wait (up to 60 s) until `ready(port)` is true."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    served = Served(process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited ({process.returncode}):\n{served.log_tail()}")
        if ready(port):
            return served
        time.sleep(0.2)
    served.stop()
    raise RuntimeError(f"{command[0]} did not come up in 60 s:\n{served.log_tail()}")


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def answers_http(port: int) -> bool:
    try:
        status, _, _ = request(port, "GET", "/healthz")
    except OSError:
        return False
    return status == 200


def start_redis(tmp: Path, redis_server: str) -> Served:
    port = free_port()
    command = [
        redis_server,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(tmp),
    ]  # fmt: skip
    return start(command, port=port, env=dict(os.environ), log=tmp / "redis.log",
                 ready=accepts_connections)  # fmt: skip


def start_runserver(env: dict[str, str], log: Path) -> Served:
    port = free_port()
    command = [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload",
               f"127.0.0.1:{port}"]  # fmt: skip
    return start(command, port=port, env=env, log=log, ready=answers_http)


def start_gunicorn(env: dict[str, str], log: Path) -> Served:
    port = free_port()
    command = [str(BIN / "gunicorn"), "--config", str(ROOT / "config" / "gunicorn.conf.py"),
               "config.wsgi"]  # fmt: skip
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"}
    return start(command, port=port, env=env, log=log, ready=answers_http)


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    chunks: list[bytes] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request; `chunks` sends the body with Transfer-Encoding: chunked."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if chunks is not None:
            connection.putrequest(method, path)
            for name, value in {**(headers or {}), "Transfer-Encoding": "chunked"}.items():
                connection.putheader(name, value)
            connection.endheaders()
            for chunk in chunks:
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        else:
            connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
