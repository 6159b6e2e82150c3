"""Reading the environment literally: what a variable or a `.env` line says is what we get.

django-environ casts values (bool, list, database URL) but has two surprises, both fixed here:
- a value starting with `$` is taken for the name of another variable (a `SECRET_KEY` of
  `$x…` became Django's dev key); `LiteralEnv` turns that off;
- its `.env` reader keeps inline comments in values (`DEBUG=true  # local` read as false).
  The file is parsed by python-dotenv instead, the common `.env` dialect: `#` after
  whitespace starts a comment, quotes keep everything, `$` is never expanded.
"""

import os
from collections.abc import MutableMapping
from pathlib import Path

import environ
from dotenv import dotenv_values


class _DollarsEscaped(MutableMapping):
    """os.environ as django-environ sees it: every `$` escaped, so no value looks like a
    reference to another variable; `escape_proxy` turns `\\$` back into `$` after the lookup."""

    def __init__(self, environment: MutableMapping[str, str]):
        self._environment = environment

    def __getitem__(self, key: str) -> str:
        return self._environment[key].replace("$", r"\$")

    def __setitem__(self, key: str, value: str) -> None:
        self._environment[key] = value

    def __delitem__(self, key: str) -> None:
        del self._environment[key]

    def __iter__(self):
        return iter(self._environment)

    def __len__(self) -> int:
        return len(self._environment)


class LiteralEnv(environ.Env):
    """django-environ's casting, with every value read literally."""

    ENVIRON = _DollarsEscaped(os.environ)

    def __init__(self, **scheme):
        super().__init__(**scheme)
        self.escape_proxy = True


# The `.env` file read when ENV_FILE names none: beside manage.py.
DEFAULT_ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def read_env_file(path: str | Path) -> None:
    """Put the variables of the `.env` file at `path` into os.environ, unless already set
    there (the environment wins over the file). A missing file is no error."""
    for name, value in env_file_values(path).items():
        os.environ.setdefault(name, value)


def environment_with_file(path: str | Path) -> dict[str, str]:
    """The variables of the `.env` file at `path` and of os.environ, the environment winning,
    as read_env_file would leave them, without changing os.environ (config/gunicorn.conf.py)."""
    return {**env_file_values(path), **os.environ}


def env_file_values(path: str | Path) -> dict[str, str]:
    """The variables the `.env` file at `path` sets (a name alone sets nothing); {} when there
    is no such file."""
    return {
        name: value
        for name, value in dotenv_values(path, interpolate=False).items()
        if value is not None
    }
