"""The bare WSGI floor: psycopg, one connection per thread (autocommit), bench/floor_sql.py.

Served by the app's gunicorn config: `gunicorn --config config/gunicorn.conf.py
bench.floor_wsgi` with BENCH_FLOOR_DATABASE_URL set. Bench-only; never routed in the app.
"""

import os
import threading

import psycopg

from bench import floor_sql

_local = threading.local()
STATUS = {200: "200 OK", 201: "201 Created", 400: "400 Bad Request", 404: "404 Not Found",
          405: "405 Method Not Allowed"}  # fmt: skip


def _cursor():
    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        connection = psycopg.connect(os.environ["BENCH_FLOOR_DATABASE_URL"], autocommit=True)
        _local.connection = connection
    return connection.cursor()


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    with _cursor() as cursor:
        status, content = floor_sql.handle(
            cursor, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), body
        )
    start_response(
        STATUS[status],
        [("Content-Type", "application/json"), ("Content-Length", str(len(content)))],
    )
    return [content]
