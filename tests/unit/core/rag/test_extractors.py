"""Extractors on small real files: every format, decoding, and corrupt input -> ExtractionError only."""

from __future__ import annotations

import io
import zipfile

import pytest

from api.core.rag import extractors
from api.core.rag.errors import ExtractionError, UnsupportedFileTypeError
from api.core.rag.extractors import SUPPORTED_EXTENSIONS, extension_of, extract, is_supported

from .files import FIXTURES, make_docx, make_pdf, make_xlsx


def test_supported_extensions_cover_dify_formats():
    assert {"txt", "md", "markdown", "mdx", "html", "htm", "pdf", "docx", "csv", "xlsx", "xls", "json"} <= set(
        SUPPORTED_EXTENSIONS
    )
    assert is_supported("Report.PDF")
    assert not is_supported("archive.zip")
    assert extension_of("dir.v1/readme") == ""


@pytest.mark.parametrize("name", ["photo.png", "archive.tar.gz", "README", "notes."])
def test_unsupported_types_raise_unsupported_file_type(name):
    with pytest.raises(UnsupportedFileTypeError) as info:
        extract(name, b"data")
    assert info.value.code == "unsupported_file_type"


def test_txt_utf8_and_bom_and_crlf():
    assert extract("a.txt", "héllo\r\nwörld".encode())[0].text == "héllo\nwörld"
    assert extract("a.txt", b"\xef\xbb\xbfbom text")[0].text == "bom text"
    assert extract("a.txt", b"")[0].text == ""


def test_txt_legacy_encodings_are_detected():
    chinese = "知识库是一个用于存储和检索文档的系统。我们把文档切分成段落，然后建立索引，以便快速找到答案。" * 3
    assert extract("zh.txt", chinese.encode("gb18030"))[0].text == chinese
    utf16 = "Unicode text in UTF-16 with a byte order mark, long enough to detect."
    assert extract("u.txt", utf16.encode("utf-16"))[0].text == utf16
    latin = "Café crème, naïve façade, déjà vu: résumé of the année. " * 4
    assert extract("l.txt", latin.encode("cp1252"))[0].text == latin


@pytest.mark.parametrize("name", ["doc.md", "doc.markdown", "doc.mdx"])
def test_markdown_is_kept_as_is(name):
    source = "# Title\n\nSome *emphasis* and a [link](https://example.com).\n\n## Section\n- item\n"
    docs = extract(name, source.encode())
    assert [d.text for d in docs] == [source]


def test_html_visible_text_only():
    html = (
        b"<html><head><title>Guide &amp; FAQ</title><style>p {color: red}</style>"
        b"<script>var secret = 1;</script></head><body><h1>Welcome</h1>"
        b"<p>First   paragraph\n   wraps <b>bold</b> words.</p><ul><li>one</li><li>two</li></ul>"
        b"<p>line<br>break</p><noscript>enable js</noscript><!-- hidden comment --></body></html>"
    )
    [doc] = extract("page.htm", html)
    assert "secret" not in doc.text
    assert "color" not in doc.text
    assert "hidden comment" not in doc.text
    assert "enable js" not in doc.text
    assert doc.text.startswith("Guide & FAQ\n\nWelcome\n\nFirst paragraph wraps bold words.")
    assert "one\ntwo" in doc.text
    assert "line\nbreak" in doc.text
    assert doc.metadata == {"title": "Guide & FAQ"}


def test_pdf_one_document_per_page():
    data = make_pdf(["Hello page one\nsecond line (with parens)", "Page two text"])
    docs = extract("report.pdf", data)
    assert [d.metadata for d in docs] == [{"page": 1}, {"page": 2}]
    assert docs[0].text == "Hello page one\nsecond line (with parens)"
    assert docs[1].text == "Page two text"


@pytest.mark.parametrize("data", [b"", b"not a pdf at all", b"%PDF-1.4\n1 0 obj garbage", make_pdf(["x"])[:40]])
def test_corrupt_pdf_raises_readable_extraction_error(data):
    with pytest.raises(ExtractionError) as info:
        extract("broken.pdf", data)
    assert info.value.message.startswith("The PDF file could not be read: ")


def test_docx_paragraphs_and_tables_in_order():
    [doc] = extract("report.docx", make_docx())
    assert doc.text.split("\n") == [
        "# Quarterly report",
        "First paragraph about revenue.",
        "| Region | Sales |",
        "|---|---|",
        "| North | 120 |",
        "| South \\| East | 80 |",
        "Closing paragraph after the table.",
    ]


def _zip_with(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("data", [b"", b"plain bytes", _zip_with("hello.txt", b"hi"), make_docx()[:200]])
def test_corrupt_docx_raises_extraction_error(data):
    with pytest.raises(ExtractionError) as info:
        extract("broken.docx", data)
    assert info.value.message.startswith("The Word file could not be read")


def test_csv_rows_become_header_value_lines():
    data = b'name,age,city\nAlice,30,Paris\n\nBob,,Berlin,extra\n"Smith, J",41,"New\nYork"\n'
    [doc] = extract("people.csv", data)
    assert doc.text.split("\n") == [
        "name: Alice; age: 30; city: Paris",
        "name: Bob; city: Berlin; Column 4: extra",
        "name: Smith, J; age: 41; city: New York",
    ]


def test_csv_semicolon_dialect():
    [doc] = extract("eu.csv", "produit;prix\ncafé;2,50\nthé;3,10\n".encode())
    assert doc.text == "produit: café; prix: 2,50\nproduit: thé; prix: 3,10"


def test_xlsx_sheets_rows_and_values():
    docs = extract("orders.xlsx", make_xlsx())
    assert [d.metadata for d in docs] == [{"sheet": "Orders"}, {"sheet": "Notes"}]
    assert docs[0].text.split("\n") == [
        "Id: 1; Product: Widget; Price: 9.5; Date: 2024-03-01",
        "Id: 2; Product: Gadget; Price: 12",
        "Id: 3; Product: 知识库; Price: 7; Date: 2024-03-02 14:30:00",
    ]
    assert docs[1].text == "Key: owner; Value: ops team"


def test_xls_fixture():
    docs = extract("legacy.xls", (FIXTURES / "sample.xls").read_bytes())
    assert [d.metadata for d in docs] == [{"sheet": "People"}, {"sheet": "Notes"}]
    assert docs[0].text.split("\n") == [
        "Name: Alice; Age: 30; Joined: 2024-01-15; Active: TRUE",
        "Name: Bob; Age: 41.5; Active: FALSE",
    ]
    assert docs[1].text == "Topic: 知识库; Detail: Knowledge base"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bad.xlsx", b"not a zip"),
        ("bad.xlsx", _zip_with("x.xml", b"<a/>")),
        ("bad.xls", b"\x00" * 600),
        ("bad.xls", b"random text"),
    ],
)
def test_corrupt_spreadsheets_raise_extraction_error(name, data):
    with pytest.raises(ExtractionError) as info:
        extract(name, data)
    assert info.value.message.startswith("The Excel file could not be read")


def test_json_pretty_printed_and_invalid_json():
    [doc] = extract("data.json", '{"name": "café", "tags": ["a", 1]}'.encode())
    assert doc.text == '{\n  "name": "café",\n  "tags": [\n    "a",\n    1\n  ]\n}'
    with pytest.raises(ExtractionError) as info:
        extract("data.json", b'{"unterminated": ')
    assert info.value.message.startswith("The JSON file could not be read: ")


def test_unexpected_parser_failure_is_wrapped(monkeypatch):
    def explode(data: bytes):
        raise RuntimeError("boom")

    monkeypatch.setitem(extractors._REGISTRY, "txt", ("text", explode))
    with pytest.raises(ExtractionError) as info:
        extract("a.txt", b"x")
    assert info.value.message == "The text file could not be read: boom"


@pytest.mark.parametrize("ext", sorted(SUPPORTED_EXTENSIONS))
def test_random_bytes_never_raise_other_exception_types(ext):
    junk = bytes(range(256)) * 4 + b"PK\x03\x04" + b"\xd0\xcf\x11\xe0" * 10
    try:
        docs = extract(f"junk.{ext}", junk)
    except ExtractionError:
        return
    assert isinstance(docs, list)
