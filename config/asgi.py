import os

from config.handlers import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django's handler; its request never takes on a charset that cannot decode text.
application = get_asgi_application()
