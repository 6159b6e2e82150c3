"""The app's own settings (config.settings: apps, middleware, database, cache, rate limits),
routing the API's paths to one of bench/layers_urls.py's layers. Bench-only."""

from config.settings import *  # noqa: F403 (the app's settings, all of them)

ROOT_URLCONF = "bench.layers_urls"
