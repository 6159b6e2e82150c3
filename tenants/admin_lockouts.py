"""Staff login lock-outs in the admin (django-axes' models, with our permission rule).

django-axes' own admin (AXES_ENABLE_ADMIN, off) offers a "clean up expired attempts" action
that declares no permission (and fails outside a login: it reads the login's attempt time);
expired attempts are cleaned up at every login anyway. Here every act needs a permission:
viewing `axes.view_*`, unlocking (deleting attempt rows) `axes.delete_accessattempt`. Nothing
is added or edited by hand. Registered from TenantsConfig.ready().
"""

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin

from tenants.admin_helpers import BoundedSearch, DateHierarchyBoundsChecked


class ReadOrDeleteOnly:
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AccessAttempt)
class AccessAttemptAdmin(
    BoundedSearch, DateHierarchyBoundsChecked, ReadOrDeleteOnly, axes_admin.AccessAttemptAdmin
):
    """Failed logins per user name and address; a row at the limit is a lock-out, and deleting
    it unlocks that user name from that address (as `manage.py axes_reset_ip_username` does)."""

    actions: list[str] = []  # only the admin's "delete selected", which needs the delete permission


@admin.register(AccessLog)
class AccessLogAdmin(
    BoundedSearch, DateHierarchyBoundsChecked, ReadOrDeleteOnly, axes_admin.AccessLogAdmin
):
    """Successful staff logins and logouts (user name, address, time)."""
