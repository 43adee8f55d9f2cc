"""Dify's pre-processing: default cleaning and the two user rules."""

from __future__ import annotations

from api.core.rag.cleaner import clean
from api.core.rag.entities import PreProcessingRule, ProcessRule


def rule(extra_spaces: bool = False, urls_emails: bool = False) -> ProcessRule:
    return ProcessRule(
        mode="custom",
        pre_processing_rules=(
            PreProcessingRule("remove_extra_spaces", extra_spaces),
            PreProcessingRule("remove_urls_emails", urls_emails),
        ),
    )


def test_default_cleaning_always_applies():
    text = "a<|im_start|>b|>c\x00\x01\x08d\x0b\x0c\x0e\x1f\x7fe\ufffef\r\ng\rh"
    assert clean(text) == "a<im_start>b>cdef\ng\nh"
    assert clean(text, rule()) == "a<im_start>b>cdef\ng\nh"


def test_default_cleaning_keeps_tabs_newlines_and_latin_letters():
    text = "naïve ¿qué? ¾ cup\tTab\nLine"
    assert clean(text, rule()) == text


def test_remove_extra_spaces():
    text = "one\n\n\n\ntwo   three\t\tfour\u3000\u3000five six\n\nseven"
    assert clean(text, rule(extra_spaces=True)) == "one\n\ntwo three four five six\n\nseven"
    assert clean(text, rule(extra_spaces=False)) == text


def test_remove_urls_and_emails_keeps_markdown_links_and_images():
    text = (
        "Mail bob.smith+x@example.co.uk or see https://example.com/a?b=1 and http://x.org.\n"
        "![diagram](https://cdn.example.com/img.png) and [docs](https://docs.example.com/page)"
    )
    assert clean(text, rule(urls_emails=True)) == (
        "Mail  or see  and \n![diagram](https://cdn.example.com/img.png) and [docs](https://docs.example.com/page)"
    )


def test_rules_disabled_leave_urls():
    text = "see https://example.com and a@b.io"
    assert clean(text, rule()) == text


def test_automatic_rule_removes_extra_spaces_only():
    assert clean("a  b\n\n\n\nc https://x.y", ProcessRule.automatic()) == "a b\n\nc https://x.y"
