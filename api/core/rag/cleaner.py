"""Dify's text pre-processing ("cleaning") applied before splitting.

Always: `<|` becomes `<` and `|>` becomes `>` (so user text cannot forge chat-template markers), control characters
(U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+007F) and the non-character U+FFFE are removed, and CRLF/CR line
ends become LF. (Dify's pattern also lists the bytes EF BF BE as characters, deleting every "ï", "¿" and "¾" from
the text; that is a bug we do not copy.)

Rules, when enabled:
- `remove_extra_spaces`: 3+ newlines become 2; runs of 2+ horizontal blanks (space, tab, NBSP, other Unicode
  spaces) become one space.
- `remove_urls_emails`: e-mail addresses and bare http(s) URLs are deleted, but the URL of a Markdown link or image
  (`[text](url)`, `![alt](url)`) is kept.
- `remove_stopwords`: accepted and ignored, as in Dify.
"""

from __future__ import annotations

import re

from api.core.rag.entities import ProcessRule

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe]")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_BLANK_RUN = re.compile("[\t\f\r \u00a0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000]{2,}")
_MARKDOWN_LINK = r"!?\[[^\]\n]*\]\([^)\s]*\)"
_URL = r"https?://[^\s)]+"
_EMAIL = r"[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+"
_URLS_EMAILS = re.compile(f"(?P<keep>{_MARKDOWN_LINK})|{_URL}|{_EMAIL}")


def clean(text: str, rules: ProcessRule | None = None) -> str:
    """Return `text` cleaned by the default rules and by the enabled pre-processing rules of `rules`."""
    text = text.replace("<|", "<").replace("|>", ">")
    text = _CONTROL.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if rules is None:
        return text
    if rules.is_enabled("remove_extra_spaces"):
        text = _MANY_NEWLINES.sub("\n\n", text)
        text = _BLANK_RUN.sub(" ", text)
    if rules.is_enabled("remove_urls_emails"):
        text = _URLS_EMAILS.sub(_keep_markdown_links, text)
    return text


def _keep_markdown_links(match: re.Match[str]) -> str:
    return match.group("keep") or ""
