"""Read rendered pages back with the standard library's HTML parser, as a browser would tokenise
them: which elements exist, what text shows, which section it shows in."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

# A reference that would make the page fetch something: absolute or protocol-relative URLs.
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


class Page(HTMLParser):
    """Elements (tag, attrs) in document order, all text, and text per <section id=...>."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self.section_order: list[str] = []
        self._section: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag == "section" and attributes.get("id"):
            self._section = attributes["id"]
            self.section_order.append(self._section)
            self.sections[self._section] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._section:
            self.sections[self._section].append(data)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == name]

    def all_text(self) -> str:
        return " ".join(self.text)

    def section_text(self, section: str) -> str:
        return " ".join(self.sections.get(section, []))


def read(path: Path) -> tuple[str, Page]:
    html = path.read_text(encoding="utf-8")
    return html, Page(html)


def external_references(page: Page) -> list[str]:
    """Every attribute that would load or link something outside the file."""
    found = []
    for tag, attrs in page.elements:
        for name, value in attrs.items():
            if name in ("src", "srcset", "href", "xlink:href", "action", "data", "poster",
                        "background") and value and EXTERNAL.match(value):
                found.append(f"<{tag} {name}={value!r}>")
        if tag == "link" or (tag == "script" and "src" in attrs):
            found.append(f"<{tag} {attrs}>")
    return found
