"""Fixtures: the fake model server on 127.0.0.1 per test (tests/unit/conftest.py); provider HTTP clients closed
after the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.core.model_runtime import registry
from tests.fakes.llm_server import FakeLLMServer


@pytest.fixture
def llm_server(llm: FakeLLMServer) -> FakeLLMServer:
    return llm  # tests/unit/conftest.py's server, under the name these tests use


@pytest.fixture(autouse=True, scope="session")
def _close_provider_clients() -> Iterator[None]:
    yield
    registry.close_clients()
