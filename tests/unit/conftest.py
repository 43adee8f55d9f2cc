"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.llm_server import FakeLLMServer, start_llm_server


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    """The fake model server on 127.0.0.1 (OpenAI-compatible and the other providers' protocols)."""
    server = start_llm_server()
    yield server
    server.stop()
