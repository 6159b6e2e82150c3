"""WSGI entry point of the bare Django floor (bench/floor_django_settings.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor_django_settings"
application = get_wsgi_application()
