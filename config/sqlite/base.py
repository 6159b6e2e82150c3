"""Django's SQLite backend, with a LIKE that ignores case beyond ASCII, as PostgreSQL does.

SQLite's built-in LIKE folds the case of ASCII letters only
(https://www.sqlite.org/lang_expr.html#like): on the embedded default, the staff search for
"MÜLLER" missed "Müller GmbH", and "école" missed "ÉCOLE", which PostgreSQL finds (Django
compiles `icontains` there as `UPPER(column) LIKE UPPER(pattern)`). SQLite lets a connection
replace its like() function: this one keeps SQLite's rules (`%` any run of characters, `_` one
character, the ESCAPE character makes the next one literal, NULL in gives NULL) and compares
with Python's Unicode case-insensitive matching.

It serves every LIKE on SQLite (Django's contains, startswith… compile to LIKE there, which
SQLite already made case-insensitive for ASCII letters). Selected by DATABASE_URL's sqlite://
scheme (config/settings.py).
"""

import re
from functools import lru_cache

from django.db.backends.sqlite3 import base


@lru_cache(maxsize=512)
def _like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    parts = []
    characters = iter(pattern)
    for character in characters:
        if character == escape:
            # SQLite: the escape character makes the next one literal (at the pattern's end
            # it stands for itself).
            parts.append(re.escape(next(characters, character)))
        elif character == "%":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def unicode_like(pattern, value, escape=None) -> bool | None:
    """SQLite's like(pattern, value[, escape]): whether `value` matches the LIKE `pattern`,
    case folded beyond ASCII; None when either is NULL. Numbers are compared as their text,
    as SQLite does."""
    if pattern is None or value is None:
        return None
    if escape is not None and len(escape) != 1:
        # SQLite's own error for this: "ESCAPE expression must be a single character".
        raise ValueError("ESCAPE expression must be a single character")
    return _like_regex(str(pattern), escape).fullmatch(str(value)) is not None


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        connection.create_function("like", 2, unicode_like, deterministic=True)
        connection.create_function("like", 3, unicode_like, deterministic=True)
        return connection
