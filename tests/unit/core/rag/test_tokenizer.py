"""Offline tokenizer: the bundled cl100k_base file, exact counts, no network on first use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from api.core.rag import tokenizer

REPO = Path(__file__).resolve().parents[4]


def test_known_cl100k_token_ids_and_counts():
    assert tokenizer.get_encoding().encode_ordinary("hello world") == [15339, 1917]
    assert tokenizer.count_tokens("hello world") == 2
    assert tokenizer.count_tokens("") == 0
    assert tokenizer.count_tokens("知识库") >= 2


def test_special_token_text_is_ordinary_text():
    assert tokenizer.count_tokens("<|endoftext|>") > 1


def test_batch_matches_single_counts():
    texts = ["alpha beta", "", "知识库检索", "x" * 1000]
    assert tokenizer.count_tokens_batch(texts) == [tokenizer.count_tokens(t) for t in texts]
    assert tokenizer.count_tokens_batch(iter(texts)) == tokenizer.count_tokens_batch(texts)


def test_truncate_tokens_never_splits_a_character():
    text = "知识库" * 50
    cut = tokenizer.truncate_tokens(text, 7)
    assert text.startswith(cut)
    assert tokenizer.count_tokens(cut) <= 7
    assert tokenizer.truncate_tokens("short", 10) == "short"
    assert tokenizer.truncate_tokens("short", 0) == ""


def test_bundled_file_is_verified():
    assert tokenizer.ENCODING_FILE.is_file()
    assert tokenizer.ENCODING_FILE.stat().st_size > 1_000_000


def test_builds_in_process_with_network_blocked(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(tokenizer, "_encoding", None)
    assert tokenizer.count_tokens("offline tokenizer works") == 3
    assert not (tmp_path / "empty-cache").exists()


def test_fresh_process_with_network_blocked_counts_tokens_and_keywords(tmp_path):
    script = textwrap.dedent(
        """
        import socket
        def blocked(*args, **kwargs):
            raise OSError("network access is blocked")
        socket.socket.connect = blocked
        socket.create_connection = blocked
        from api.core.rag.tokenizer import count_tokens
        from api.core.rag.keywords import extract_keywords
        print(count_tokens("hello world"))
        print(",".join(extract_keywords("知识库检索系统支持文档索引。知识库很重要。", 3)))
        """
    )
    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "cache"),
        "TMPDIR": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "2"
    assert "知识库" in lines[1].split(",")
    assert "Building prefix dict" not in result.stderr  # jieba's init chatter is silenced


@pytest.mark.parametrize("text", ["a", "  ", "\n\n", "🙂" * 3])
def test_counts_are_positive_for_non_empty_text(text):
    assert tokenizer.count_tokens(text) >= 1
