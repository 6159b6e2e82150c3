"""A real HTTP server on 127.0.0.1 playing Salesforce, Twilio, SendGrid and DataSift, for the
verification tests: no mock of the HTTP client, the requests go over a socket.

It accepts one set of credentials per provider (ACCEPTED), refuses others the way each
provider documents it, and on demand (`server.mode`) answers 503, redirects, answers 200 with
nothing in it, or stalls until the test ends. Every answer it gives carries BODY_MARK, so a
test can prove no answer body reached a result, a record, a log line or an audit event. It
records each request it got.

Paths: Salesforce's token endpoint at /services/oauth2/token (production) and
/sandbox/services/oauth2/token (SALESFORCE_TEST_LOGIN_URL points at /sandbox), Twilio's
/2010-04-01/Accounts/{SID}.json, SendGrid's /v3/scopes, DataSift's /v1.6/usage.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

BODY_MARK = "PROVIDER-BODY-MARK"

# The one set of credentials each fake provider accepts (secrets are distinctive, so a leak
# anywhere is found by searching for them).
ACCEPTED: dict[str, dict[str, str]] = {
    "salesforce": {
        "consumer_key": "good-consumer-key",
        "consumer_secret": "sf-consumer-secret-GOOD",
        "username": "ops@example.com",
        "password": "sf-password-GOOD",
        "secret_token": "sf-token-GOOD",
    },
    "twilio": {"account": "AC" + "0" * 31 + "1", "password": "twilio-token-GOOD"},
    "sendgrid": {"account": "sendgrid-user", "password": "SG.sendgrid-key-GOOD"},
    "datasift": {"username": "datasift-user", "api_key": "datasift-key-GOOD"},
}
# Credentials each fake refuses: the same, with the first secret wrong.
REFUSED: dict[str, dict[str, str]] = {
    "salesforce": {**ACCEPTED["salesforce"], "password": "sf-password-WRONG"},
    "twilio": {**ACCEPTED["twilio"], "password": "twilio-token-WRONG"},
    "sendgrid": {**ACCEPTED["sendgrid"], "password": "SG.sendgrid-key-WRONG"},
    "datasift": {**ACCEPTED["datasift"], "api_key": "datasift-key-WRONG"},
}
NORMAL, ERROR, REDIRECT, STALL, EMPTY = "normal", "error", "redirect", "stall", "empty"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeProviders:
    """The running server: `url` (http://127.0.0.1:port), `mode`, the requests `seen`."""

    server: ThreadingHTTPServer
    mode: str = NORMAL
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def settings(self) -> dict[str, Any]:
        """The settings that send every verification here."""
        return {
            "SALESFORCE_LOGIN_URL": self.url,
            "SALESFORCE_TEST_LOGIN_URL": f"{self.url}/sandbox",
            "TWILIO_API_URL": self.url,
            "SENDGRID_API_URL": self.url,
            "DATASIFT_API_URL": f"{self.url}/v1.6",
        }

    def paths(self) -> list[str]:
        with self.lock:
            return [request.path for request in self.seen]

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def start() -> FakeProviders:
    """Start the server on a free port of 127.0.0.1, serving from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    fake = FakeProviders(server)
    server.fake = fake  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers serve
    # Each answer in one segment (headers and body written apart met the client's delayed
    # ACK: 40 ms per request that no real provider costs).
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    @property
    def fake(self) -> FakeProviders:
        return self.server.fake  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.fake.lock:
            self.fake.seen.append(Seen(self.command, self.path, dict(self.headers), body))
        mode = self.fake.mode
        if mode == STALL:
            self.fake.release.wait(timeout=10)
            return self._send(200, {"late": True})
        if mode == ERROR:
            return self._send(503, {"error": "maintenance"})
        if mode == REDIRECT:
            return self._send(302, {}, location=f"{self.fake.url}/elsewhere")
        if mode == EMPTY:
            return self._send(200, {})
        path = self.path.split("?", 1)[0]
        if path in ("/services/oauth2/token", "/sandbox/services/oauth2/token"):
            return self._salesforce(parse_qs(body.decode()))
        if path.startswith("/2010-04-01/Accounts/") and path.endswith(".json"):
            return self._twilio(
                unquote(path.removeprefix("/2010-04-01/Accounts/")[: -len(".json")])
            )
        if path == "/v3/scopes":
            return self._sendgrid()
        if path == "/v1.6/usage":
            return self._datasift()
        self._send(404, {"error": "not found"})

    def _salesforce(self, form: dict[str, list[str]]) -> None:
        good = ACCEPTED["salesforce"]
        given = {name: values[0] for name, values in form.items()}
        if given.get("grant_type") != "password":
            return self._send(400, {"error": "unsupported_grant_type"})
        if given.get("client_id") != good["consumer_key"]:
            return self._send(400, {"error": "invalid_client_id", "error_description": BODY_MARK})
        if given.get("client_secret") != good["consumer_secret"]:
            return self._send(400, {"error": "invalid_client", "error_description": BODY_MARK})
        if (
            given.get("username") != good["username"]
            or given.get("password") != good["password"] + good["secret_token"]
        ):
            return self._send(400, {"error": "invalid_grant", "error_description": BODY_MARK})
        self._send(200, {"access_token": "00D-session", "token_type": "Bearer"})

    def _twilio(self, sid: str) -> None:
        good = ACCEPTED["twilio"]
        expected = base64.b64encode(f"{good['account']}:{good['password']}".encode()).decode()
        if sid != good["account"] or self.headers.get("Authorization") != f"Basic {expected}":
            return self._send(401, {"code": 20003, "message": BODY_MARK})
        self._send(200, {"sid": sid, "status": "active"})

    def _sendgrid(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {ACCEPTED['sendgrid']['password']}":
            return self._send(401, {"errors": [{"message": BODY_MARK}]})
        self._send(200, {"scopes": ["mail.send"]})

    def _datasift(self) -> None:
        good = ACCEPTED["datasift"]
        if self.headers.get("Authorization") != f"{good['username']}:{good['api_key']}":
            return self._send(401, {"error": BODY_MARK})
        self._send(200, {"streams": {}, "start": "now"})

    def _send(self, status: int, payload: dict[str, Any], *, location: str = "") -> None:
        payload = {**payload, "mark": BODY_MARK}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (a timeout test)
            self.wfile.write(data)
