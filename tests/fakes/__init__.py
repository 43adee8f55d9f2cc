"""Test doubles that speak real protocols (e.g. llm_server: a fake model server on 127.0.0.1)."""
