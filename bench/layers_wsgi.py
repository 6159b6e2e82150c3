"""WSGI entry point of a layer (bench/layers_urls.py, BENCH_LAYER), served as the app is
(config/wsgi.py's handler). Bench-only."""

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.layers_settings"

from config.handlers import get_wsgi_application  # after the settings module is named

application = get_wsgi_application()
