"""HTML (html, htm): visible text via BeautifulSoup4 with the stdlib html.parser.

script/style/noscript/template/head contents are dropped; paragraph-like elements (p, headings, lists, tables...)
are separated by a blank line, and list items, table rows, divs and <br> end a line (table cells are separated by a
tab). Whitespace inside text is collapsed, except in <pre>.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment

from api.core.rag.entities import SourceDocument

_DROP = ("script", "style", "noscript", "template", "head", "svg")
_PARAGRAPHS = (
    "p",
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "nav",
    "main",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "dl",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "figure",
    "form",
    "fieldset",
    "address",
    "details",
)
_LINES = ("div", "li", "dt", "dd", "tr", "figcaption", "summary", "caption")
_CELLS = ("td", "th")
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


def extract_html(data: bytes) -> list[SourceDocument]:
    """One document with the page's visible text (the title, when present, as first line)."""
    soup = BeautifulSoup(data, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for string in soup.find_all(string=True):
        if not isinstance(string, Comment) and string.find_parent("pre") is None:
            string.replace_with(_SPACES.sub(" ", string))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(_CELLS):
        tag.append("\t")
    for tag in soup.find_all(_LINES):
        tag.append("\n")
    for tag in soup.find_all(_PARAGRAPHS):
        tag.insert_before("\n\n")
        tag.append("\n\n")
    text = soup.get_text()
    text = text.replace("\r\n", "\n").replace("\xa0", " ")
    lines = [line.strip() for line in text.split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    if title and not text.startswith(title):
        text = f"{title}\n\n{text}" if text else title
    return [SourceDocument(text=text, metadata={"title": title} if title else {})]
