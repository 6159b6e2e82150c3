"""Conditional writes (RFC 9110 §13.1): `If-Match` and `If-None-Match` on an integration.

An integration's entity tag names its stored state: its primary key and its version
(`"<pk>-<version>"`). The version counts changes of values, and the key changes when an id is
deleted and created again, so a tag never comes back for another state. Preconditions are
checked by the services inside the write's lock, so two racing writers holding the same tag
cannot both win: the second gets PreconditionFailed (412).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from integrations.exceptions import PreconditionFailed

_ENTITY_TAG = re.compile(r'\A(?:W/)?"([^"]*)"\Z')


def etag_of(integration) -> str:
    """The strong entity tag of the integration's stored state, quoted for the header."""
    return f'"{integration.pk}-{integration.version}"'


@dataclass(frozen=True)
class Precondition:
    """What the client asked the current state to be: `match` holds the entity tags of
    If-Match (or "*"), `none_match_any` is If-None-Match: * (create only)."""

    match: frozenset[str] | None = None
    none_match_any: bool = False

    @classmethod
    def from_headers(cls, if_match: str | None, if_none_match: str | None) -> Precondition:
        """Parse the two headers; ValueError for a malformed one (the API answers 400).
        If-None-Match other than "*" does not apply to writes (RFC 9110 §13.1.2) and is
        refused rather than ignored."""
        match = None if if_match is None else frozenset(_tags(if_match))
        if if_none_match is not None and if_none_match.strip() != "*":
            raise ValueError("If-None-Match on a write may only be '*' (create only).")
        return cls(match=match, none_match_any=if_none_match is not None)

    def check(self, current) -> None:
        """Raise PreconditionFailed unless `current` (the live integration, locked, or None
        when there is none) satisfies the headers."""
        if self.none_match_any and current is not None:
            raise PreconditionFailed("The integration exists already (If-None-Match: *).")
        if self.match is None:
            return
        if current is None:
            raise PreconditionFailed("The integration does not exist (If-Match).")
        if "*" not in self.match and etag_of(current) not in self.match:
            raise PreconditionFailed(
                f"The integration has changed: its entity tag is now {etag_of(current)} (If-Match)."
            )


NONE = Precondition()


def _tags(header: str) -> list[str]:
    if header.strip() == "*":
        return ["*"]
    tags = []
    for part in header.split(","):
        found = _ENTITY_TAG.match(part.strip())
        if found is None or found.group(0).startswith("W/"):
            # A weak tag never matches strongly (RFC 9110 §13.1.1); say so, don't ignore it.
            raise ValueError('If-Match takes strong entity tags, e.g. If-Match: "12-3".')
        tags.append(f'"{found.group(1)}"')
    return tags
