"""Django's SQLite backend, with a LIKE that ignores case as PostgreSQL's search does.

SQLite's built-in LIKE folds the case of ASCII letters only
(https://www.sqlite.org/lang_expr.html#like): on the embedded default, the staff search for
"MÜLLER" missed "Müller GmbH", and "école" missed "ÉCOLE", which PostgreSQL finds. Django
compiles `icontains` on PostgreSQL as `UPPER(column) LIKE UPPER(pattern)`, UPPER mapping each
character to its one-character upper case (the database's LC_CTYPE; glibc's towupper in the
C.UTF-8 and other UTF-8 locales): ß stays ß, and the Kelvin sign, İ or ẞ are upper case already,
so none of them matches k, i or ß there. This like() compares the same upper cases, so that a
search lists the same rows on both databases. SQLite lets a connection replace its like()
function; this one keeps SQLite's rules otherwise (`%` any run of characters, `_` one
character, the ESCAPE character makes the next one literal and matches nothing at the
pattern's end, NULL in gives NULL, numbers compared as SQLite writes them as text).

It serves every LIKE on SQLite (Django's contains, startswith… compile to LIKE there, which
SQLite already made case-insensitive for ASCII letters). Selected by DATABASE_URL's sqlite://
scheme (config/settings.py).
"""

import re
import sqlite3
import threading
from functools import lru_cache

from django.db.backends.sqlite3 import base

_MATCHES_NOTHING = re.compile(r"(?!)")


def _upper(text: str) -> str:
    """`text` with each character in its one-character upper case, as PostgreSQL's UPPER: a
    character whose upper case is longer (ß -> SS, ﬁ -> FI) is kept."""
    upper = text.upper()
    if len(upper) == len(text):  # no character grew: the common case, at C speed
        return upper
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


@lru_cache(maxsize=512)
def _like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    parts = []
    characters = iter(pattern)
    for character in characters:
        if character == escape:
            literal = next(characters, None)
            if literal is None:  # SQLite: an escape with nothing after it matches nothing
                return _MATCHES_NOTHING
            parts.append(re.escape(_upper(literal)))
        elif character == "%":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(_upper(character)))
    return re.compile("".join(parts), re.DOTALL)


_text_of_lock = threading.Lock()
_text_of_connection: sqlite3.Connection | None = None


def _as_text(value) -> str:
    """`value` as SQLite's LIKE reads it: its text (a REAL as SQLite writes it: 1e20 is
    '1.0e+20', -0.0 is '0.0'; a BLOB's bytes as UTF-8), asked of SQLite itself."""
    global _text_of_connection
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    with _text_of_lock:
        if _text_of_connection is None:
            _text_of_connection = sqlite3.connect(":memory:", check_same_thread=False)
        text: str = _text_of_connection.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0]
        return text


def unicode_like(pattern, value) -> bool | None:
    """SQLite's like(pattern, value) (`value LIKE pattern`): whether `value` matches the LIKE
    `pattern`, each character compared in its upper case (see the module); None when either is
    NULL."""
    return unicode_like_escaped(pattern, value, "")


def unicode_like_escaped(pattern, value, escape) -> bool | None:
    """SQLite's like(pattern, value, escape) (`value LIKE pattern ESCAPE escape`); `escape` ""
    is no escape character (the two-argument like()). None when any of the three is NULL, as
    SQLite answers. Raises ValueError for an escape of more than one character (SQLite's
    "ESCAPE expression must be a single character")."""
    if pattern is None or value is None or escape is None:
        return None
    escape = _as_text(escape)
    if escape and len(escape) != 1:
        raise ValueError("ESCAPE expression must be a single character")
    regex = _like_regex(_as_text(pattern), escape or None)
    return regex.fullmatch(_upper(_as_text(value))) is not None


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        connection.create_function("like", 2, unicode_like, deterministic=True)
        connection.create_function("like", 3, unicode_like_escaped, deterministic=True)
        return connection
