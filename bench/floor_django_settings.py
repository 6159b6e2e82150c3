"""The bare Django floor: the minimal settings (no apps, no middleware), its one URL pattern
and view, doing what bench/floor_sql.py does through Django's connection, with the app's
connection settings (CONN_MAX_AGE, health checks, statement timeout).

Served by the app's gunicorn config: `gunicorn --config config/gunicorn.conf.py
bench.floor_django_wsgi`. Bench-only; never routed in the app.
"""

import os

import environ
from django.db import connection
from django.http import HttpResponse
from django.urls import re_path

from bench import floor_sql

DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY", "bench-floor-only")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = __name__
USE_TZ = True
DATABASES = {"default": environ.Env.db_url_config(os.environ["BENCH_FLOOR_DATABASE_URL"])}
DATABASES["default"].update({"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True})
DATABASES["default"]["OPTIONS"] = {"connect_timeout": 5, "options": "-c statement_timeout=30000"}


def integrations(request, tenant, ident=None):
    with connection.cursor() as cursor:
        status, content = floor_sql.handle(cursor, request.method, request.path, request.body)
    return HttpResponse(content, status=status, content_type="application/json")


urlpatterns = [re_path(r"^1\.0/tenants/([^/]+)/integrations(?:/([^/]+))?/?$", integrations)]
