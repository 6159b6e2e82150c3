"""Admin pieces that both apps' admins use. They live in the lower app so that the dependency
runs one way: integrations' admin imports tenants' admin, never the reverse."""

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters

from tenants.actors import Actor
from tenants.models import Channel


class QuickActionCheckbox:
    """Each row's action checkbox written at once: the HTML of Django's
    `ModelAdmin.action_checkbox`, without rendering a form widget through the template engine
    for every row (a third of the CPU of a 100-row change list). Put it before ModelAdmin."""

    def action_checkbox(self, obj):
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )


class DateHierarchyBoundsChecked:
    """For a ModelAdmin with a date_hierarchy: a year, month or day in the URL that no date
    can hold (?occurred_at__year=2147483648, or the day after 9999-12-31) is the admin's
    "invalid lookup" redirect (?e=1), as a malformed one already is. Django's ChangeList
    builds the date with datetime() and catches ValueError only; OverflowError was a 500.
    Put it before ModelAdmin."""

    def get_changelist_instance(self, request):
        try:
            return super().get_changelist_instance(request)  # type: ignore[misc]
        except OverflowError as error:
            raise IncorrectLookupParameters(error) from error


# What an admin search box takes: the words of its first 200 characters (the staff search's
# limit too), at most 10 of them. Django's admin has no limit: each word is one more AND of
# every search field's LIKE, so a request line of 2,700 one-letter words was a statement too
# deep for SQLite (a 503) and held a PostgreSQL connection until its statement timeout.
MAX_SEARCH_LENGTH = 200
MAX_SEARCH_WORDS = 10


def search_words(search_term: str) -> list[str]:
    """The words an admin search looks for, as Django's admin splits `search_term`
    (django.utils.text.smart_split; a quoted phrase is one word without its quotes), cut to
    MAX_SEARCH_WORDS words of its first MAX_SEARCH_LENGTH characters. Empty words are dropped.
    A lone quote is a word as typed (Django reads `'` as an empty phrase, which matches
    every row)."""
    words = []
    for word in smart_split(search_term[:MAX_SEARCH_LENGTH]):
        if len(word) > 1 and word[0] in "\"'" and word[-1] == word[0]:
            word = unescape_string_literal(word)
        if word.strip():
            words.append(word.strip())
    return words[:MAX_SEARCH_WORDS]


def _as_search_term(words: list[str]) -> str:
    """`words` as a search term Django's admin splits back into exactly those words: each one
    a double-quoted phrase, its backslashes and double quotes escaped (what
    unescape_string_literal undoes)."""
    return " ".join('"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"' for word in words)


class BoundedSearch:
    """For a ModelAdmin with search_fields: Django's search over `search_words(term)` only
    (see MAX_SEARCH_WORDS). Every admin of the site that searches has it
    (tests/web/test_admin_search_limits.py). Put it before ModelAdmin."""

    def get_search_results(self, request, queryset, search_term):
        term = _as_search_term(search_words(search_term))
        return super().get_search_results(request, queryset, term)  # type: ignore[misc]


def admin_actor(request) -> Actor:
    """The signed-in admin user, as the services record them."""
    return Actor.for_request(request, Channel.ADMIN)


class DeletedListFilter(admin.SimpleListFilter):
    """Live rows by default; soft-deleted ones on demand."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("deleted", "Deleted"), ("all", "All")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Live",
        }
        yield from list(super().choices(changelist))[1:]

    def queryset(self, request, queryset):
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted_at__isnull=True)


class HideSecretsFromErrorReports(admin.ModelAdmin):
    """A 500 on an admin form must not put the typed secrets into Django's error report."""

    @method_decorator(sensitive_post_parameters())
    def changeform_view(self, request, *args, **kwargs):
        return super().changeform_view(request, *args, **kwargs)
