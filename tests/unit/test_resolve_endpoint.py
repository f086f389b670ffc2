"""``resolve_endpoint`` asks localstack-client (a declared dependency of the aws extra);
its own rules, used only if localstack-client knows no ``lambda`` endpoint, give the
same answers. (The main cases are in tests/ministack/test_remote_units.py.)"""

from __future__ import annotations

import localstack_client.config
import pytest

from sim.engines.remote.backend import resolve_endpoint

ENV = ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST", "USE_SSL")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://localhost:4566"),
        ({"LOCALSTACK_HOST": "127.0.0.2:4577"}, "http://127.0.0.2:4577"),
        ({"LOCALSTACK_HOST": "engine"}, "http://engine:4566"),
        ({"LOCALSTACK_HOST": ":4577"}, "http://localhost:4577"),
        ({"LOCALSTACK_HOST": "engine:4577", "USE_SSL": "true"}, "https://engine:4577"),
        ({"LOCALSTACK_HOST": "engine", "AWS_ENDPOINT_URL": " http://127.0.0.3:4588 "}, "http://127.0.0.3:4588"),
    ],
    ids=["default", "host-port", "host-only", "port-only", "ssl", "endpoint-url-wins"],
)
def test_localstack_client_and_the_fallback_agree(monkeypatch: pytest.MonkeyPatch, env: dict, expected: str):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert resolve_endpoint() == expected
    monkeypatch.setattr(localstack_client.config, "get_service_endpoint", lambda service, localstack_host=None: None)
    assert resolve_endpoint() == expected


def test_an_explicit_endpoint_is_used_as_given(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:1")
    assert resolve_endpoint("http://127.0.0.1:9999") == "http://127.0.0.1:9999"


def test_localstack_client_is_what_is_asked_first(monkeypatch: pytest.MonkeyPatch):
    asked: list[str] = []

    def endpoint(service: str, localstack_host: str | None = None) -> str:
        asked.append(service)
        return "http://from-localstack-client:1234"

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.3:4588")
    monkeypatch.setattr(localstack_client.config, "get_service_endpoint", endpoint)
    assert resolve_endpoint() == "http://from-localstack-client:1234"
    assert asked == ["lambda"]
