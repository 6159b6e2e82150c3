"""Django's session, authentication and messages middleware, skipped under the API (/1.0/...).

An API request authenticates with its bearer token (DRF, tenants.authentication): it has no
use for a session, a logged-in user or flash messages, yet these three built a message storage
(cookie and session backends), a lazy user and a lazy session on every one, and read and
wrote them back: about 100 of GET one's 2,250 Python function calls (bench/calls.py). Under
the API the request goes straight on; everywhere else each class is Django's own.

They are subclasses of Django's classes, so that the admin's system checks (admin.E408 to
E410 look for these middleware, subclasses included) still find them. CSRF, security headers,
X-Frame-Options and the rest stay on every path: they guard or describe every answer.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.utils.deprecation import MiddlewareMixin

from integrations.api.errors import is_api_path


class _SkippedUnderApi(MiddlewareMixin):
    """Put first among a MiddlewareMixin subclass's bases: under the API, the request goes
    straight to the next middleware (in async mode too: get_response's coroutine is
    returned, as MiddlewareMixin's __call__ returns its own)."""

    def __call__(self, request):
        if is_api_path(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class BrowserSessionMiddleware(_SkippedUnderApi, SessionMiddleware):
    pass


class BrowserAuthenticationMiddleware(_SkippedUnderApi, AuthenticationMiddleware):
    pass


class BrowserMessageMiddleware(_SkippedUnderApi, MessageMiddleware):
    pass
