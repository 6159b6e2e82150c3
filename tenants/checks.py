"""Deploy check: the rate limits' counters live in a cache every server process shares.

A per-process cache (the default, locmem) gives each gunicorn worker its own counts, so a
limit is multiplied by the number of processes and machines; the dummy cache keeps nothing,
so nothing is limited (tenants/throttling.py). Staff lock-outs are unaffected: django-axes
keeps them in the database.
"""

from django.conf import settings
from django.core.checks import Tags, Warning, register

NOT_SHARED = {
    "django.core.cache.backends.locmem.LocMemCache": "is per process",
    "django.core.cache.backends.dummy.DummyCache": "keeps nothing, so nothing is limited",
}


@register(Tags.security, Tags.caches, deploy=True)
def check_rate_limit_store_is_shared(app_configs=None, **kwargs):
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend not in NOT_SHARED:
        return []
    return [
        Warning(
            f"The cache that holds the API rate limits ({backend.rsplit('.', 1)[-1]}) "
            f"{NOT_SHARED[backend]}: each server process counts on its own.",
            hint="Set CACHE_URL=redis://host:6379/0 (README, 'Operations').",
            id="tenants.W001",
        )
    ]
