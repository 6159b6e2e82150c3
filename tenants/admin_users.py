"""Users and groups in the admin: only a superuser grants privileges.

Django's own UserAdmin lets anyone holding `auth.change_user` edit every field of every user:
their own `is_superuser`, anyone's permissions and groups, a superuser's password. A staff user
could so make itself a superuser, then mint an all-tenants `secrets` token, which
`tenants.add_privileged_apitoken` exists to prevent. Here, for anyone but a superuser:

- `is_superuser`, `is_staff`, `groups` and `user_permissions` are read-only, on every user
  (themselves included) and on the add form (which offers none of them anyway);
- a user they may change or delete is one holding no permission they lack themselves: never
  a superuser, never someone more privileged (setting that person's password would be taking
  over their privileges), active or not;
- a group's permissions are read-only (every member would gain them).
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.db.models import Q

from tenants.admin_helpers import BoundedSearch

User = get_user_model()

PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


def permissions_held(user) -> set[str]:
    """Every permission `user` holds, directly or through a group, whether active or not
    (Django's get_all_permissions answers nothing for an inactive user, who can be
    reactivated)."""
    granted = Permission.objects.filter(Q(user=user) | Q(group__user=user)).distinct()
    return {
        f"{app_label}.{codename}"
        for app_label, codename in granted.values_list("content_type__app_label", "codename")
    }


def may_manage(editor: AbstractUser, user: AbstractUser) -> bool:
    """Whether `editor` may change or delete `user` without gaining any privilege by it."""
    if editor.is_superuser:
        return True
    if user.is_superuser:
        return False
    if user.pk == editor.pk:
        return True
    return permissions_held(user) <= editor.get_all_permissions()


class RegistryUserAdmin(BoundedSearch, UserAdmin):
    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += [name for name in PRIVILEGE_FIELDS if name not in readonly]
        return readonly

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_manage(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or may_manage(request.user, obj))


class RegistryGroupAdmin(BoundedSearch, GroupAdmin):
    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser and "permissions" not in readonly:
            readonly.append("permissions")
        return readonly


# Importing django.contrib.auth.admin (above) registered Django's own; these replace them.
for model, model_admin in ((User, RegistryUserAdmin), (Group, RegistryGroupAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
