"""Admin pieces that both apps' admins use. They live in the lower app so that the dependency
runs one way: integrations' admin imports tenants' admin, never the reverse."""

from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import SEARCH_VAR
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


@dataclass(frozen=True)
class BoundedTerm:
    """What an admin search looks for: `words`, and whether some of what was typed was left out
    of them (`cut`). Cut to no word at all (one word longer than the limit), it lists nothing:
    searching no word would list every row."""

    words: list[str]
    cut: bool

    @property
    def lists_nothing(self) -> bool:
        return self.cut and not self.words


def bounded_search(search_term: str) -> BoundedTerm:
    """The words an admin search looks for, as Django's admin splits `search_term`
    (django.utils.text.smart_split; a quoted phrase is one word without its quotes, its blanks
    kept): at most MAX_SEARCH_WORDS whole words of the first MAX_SEARCH_LENGTH characters,
    the blanks around the term not counted. A word cut in two by the length limit is left out
    (its first letters are not what was typed), and empty phrases are dropped. A lone quote is
    a word as typed (Django reads `'` as an empty phrase, which matches every row)."""
    term = search_term.strip()
    words = []
    for bit in smart_split(term[:MAX_SEARCH_LENGTH]):
        if len(bit) > 1 and bit[0] in "\"'" and bit[-1] == bit[0]:
            bit = unescape_string_literal(bit)
        if bit:
            words.append(bit)
    cut = len(term) > MAX_SEARCH_LENGTH
    either_side_of_the_cut = term[MAX_SEARCH_LENGTH - 1 : MAX_SEARCH_LENGTH + 1]
    if cut and words and not any(c.isspace() for c in either_side_of_the_cut):
        words.pop()  # a word cut in two
    if len(words) > MAX_SEARCH_WORDS:
        words, cut = words[:MAX_SEARCH_WORDS], True
    return BoundedTerm(words, cut)


def _as_search_term(words: list[str]) -> str:
    """`words` as a search term Django's admin splits back into exactly those words: each one
    a double-quoted phrase, its backslashes and double quotes escaped (what
    unescape_string_literal undoes)."""
    return " ".join('"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"' for word in words)


class BoundedSearch:
    """For a ModelAdmin with search_fields: Django's search over bounded_search(term)'s words
    only (see MAX_SEARCH_WORDS), nothing listed when that leaves no word, and a warning on the
    list when some of the term was left out, saying which words were searched (the rows
    listed may be more than the whole term would have found). Every admin of the site that
    searches has it (tests/web/test_admin_search_limits.py). Put it before ModelAdmin; an
    admin that searches its own way overrides search_words_results."""

    def get_search_results(self, request, queryset, search_term):
        bounded = bounded_search(search_term)
        if bounded.lists_nothing:
            return queryset.none(), False
        return self.search_words_results(request, queryset, bounded.words)

    def search_words_results(self, request, queryset, words: list[str]):
        """Django's get_search_results answer for the search of `words` (every one to match):
        by default Django's own search, handed exactly these words."""
        term = _as_search_term(words)
        return super().get_search_results(request, queryset, term)  # type: ignore[misc]

    def changelist_view(self, request, extra_context=None):
        bounded = bounded_search(request.GET.get(SEARCH_VAR, ""))
        if bounded.cut:
            searched = " ".join(f"“{word}”" for word in bounded.words)
            messages.warning(
                request,
                f"A search takes at most {MAX_SEARCH_WORDS} words of {MAX_SEARCH_LENGTH} "
                "characters. "
                + (
                    f"Listed are the rows that match {searched} only."
                    if searched
                    else "Its first word is longer: nothing is listed."
                ),
            )
        return super().changelist_view(request, extra_context)  # type: ignore[misc]


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
