"""Health checks for load balancers and orchestrators, answered before anything else runs.

- `GET /healthz`: the process is alive and serving (no database): `{"status": "ok"}`.
- `GET /readyz`: one database round trip (`SELECT 1`): `{"status": "ok"}`, or 503 with
  `{"status": "unavailable", "error": ...}` and Retry-After when the database is unreachable.

A middleware rather than views, near the top of the chain: a probe needs no session, user,
token, CSRF check or rate limit, may be sent to the bare IP address of the machine (a Host
outside ALLOWED_HOSTS), and must not be redirected to HTTPS (SECURE_SSL_REDIRECT) by a load
balancer that checks over plain HTTP. Answers are never cached (no-store).
"""

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse

from integrations.api.errors import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE_SENTENCE

logger = logging.getLogger("config.health")

PATHS = ("/healthz", "/readyz")


def alive() -> JsonResponse:
    return JsonResponse({"status": "ok"})


def ready() -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        logger.error("Not ready: database unavailable (%s: %s)", type(error).__name__, first_line)
        response = JsonResponse(
            {"status": "unavailable", "error": DATABASE_UNAVAILABLE_SENTENCE}, status=503
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    return JsonResponse({"status": "ok"})


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path not in PATHS:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse({"error": f"{path} answers GET and HEAD only."}, status=405)
            response["Allow"] = "GET, HEAD"
        else:
            response = alive() if path == "/healthz" else ready()
        response["Cache-Control"] = "no-store"
        response["Content-Length"] = str(len(response.content))
        return response
