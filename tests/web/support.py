"""Helpers for web tests: what a browser would submit from a rendered page."""

from html.parser import HTMLParser


class _FormFields(HTMLParser):
    """Collects the successful controls of the page's forms, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        name = attributes.get("name")
        kind = attributes.get("type", "text")
        if tag == "input" and name and kind not in {"submit", "button", "reset", "file", "image"}:
            if kind in {"checkbox", "radio"} and "checked" not in attributes:
                return
            self.fields.append((name, attributes.get("value") or ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attributes:
            self.fields.append((self._select, attributes.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields.append((name, ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            name, value = self.fields.pop()
            self.fields.append((name, value + data))


def submitted_form(html: str) -> dict[str, str]:
    """What the browser sends when the page's form is submitted untouched (the templates of
    rows that JavaScript adds, `__prefix__`, are left out: the formset ignores them anyway)."""
    parser = _FormFields()
    parser.feed(html)
    data: dict[str, str] = {}
    for name, value in parser.fields:
        if "__prefix__" not in name:
            data.setdefault(name, value)
    return data
