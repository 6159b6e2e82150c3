from rest_framework import permissions

from tenants.models import Scope

SCOPE_FOR_METHOD = {"GET": Scope.READ, "HEAD": Scope.READ, "OPTIONS": Scope.READ}


class TokenActsOnTenant(permissions.BasePermission):
    """The token must cover the tenant in the URL and hold the scope the method needs.

    Runs before the view looks the tenant up, so a token of another tenant gets 403 whether
    or not the tenant exists: nothing leaks about other tenants.
    """

    def has_permission(self, request, view):
        api_token = request.auth
        if api_token is None:
            return False
        tenant_name = view.kwargs.get("tenant", "")
        if not api_token.may_act_on(tenant_name):
            self.message = f"This token may not act on tenant '{tenant_name}'."
            return False
        needed = SCOPE_FOR_METHOD.get(request.method, Scope.WRITE)
        if not api_token.has_scope(needed):
            self.message = f"This token lacks the '{needed}' scope."
            return False
        return True
