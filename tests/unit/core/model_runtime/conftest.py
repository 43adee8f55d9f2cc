"""Fixtures: a real fake model server on 127.0.0.1 per test; provider HTTP clients closed after the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.core.model_runtime import registry
from tests.fakes.llm_server import FakeLLMServer, start_llm_server


@pytest.fixture
def llm_server() -> Iterator[FakeLLMServer]:
    server = start_llm_server()
    yield server
    server.stop()


@pytest.fixture(autouse=True, scope="session")
def _close_provider_clients() -> Iterator[None]:
    yield
    registry.close_clients()
