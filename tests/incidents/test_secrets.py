"""Secrets and account ids in the inputs are never copied into the scenario: values are
replaced by placeholders, and the notes say which variable and why (never the value)."""

from __future__ import annotations

from sim.incidents import import_incident
from sim.scenarios.runner import run_text

from .recording import operator_files, record_embedded

SECRETS = {
    "db_password": "hunter2-correct-horse",  # a secret by its name
    "deploy": "AKIAIOSFODNN7EXAMPLE",  # an AWS access key id by its value
    "session_blob": "qz-7",  # by its name, however short
    "webhook": "d2VsbC1rZXB0LXNlY3JldC12YWx1ZS0xMjM0NTY3OA",  # a long random string
    "role": "arn:aws:iam::123456789012:role/tenant",  # holds an account id
}
SCENARIO = f"""
name: secrets
steps:
  - at: 0
    create:
      tenant: acme
      variables: {{tier: gold, {", ".join(f'{k}: "{v}"' for k, v in SECRETS.items())}}}
"""


def test_no_secret_or_account_id_reaches_the_scenario() -> None:
    recorded = record_embedded(SCENARIO)
    files = operator_files(recorded)
    assert any("123456789012" in text for _, text in files), "the inputs do carry the account id"
    imported = import_incident(files)
    for value in SECRETS.values():
        assert value not in imported.text
    assert "123456789012" not in imported.text
    for key in SECRETS:
        assert f"variable {key!r}" in " ".join(imported.text.replace("#", " ").split())
    assert "tier: gold" in imported.text  # what is not a secret is kept
    replay = run_text(imported.text)
    assert replay.passed, replay.report + imported.text


SENSITIVE = """
name: sensitive
steps:
  - at: 0
    create:
      tenant: acme
      variables: {tier: gold, db_password: {value: kept-in-secrets-manager-1, sensitive: true}}
"""


def test_a_sensitive_variable_is_imported_as_a_sensitive_placeholder() -> None:
    """Production's event carries a reference, not the value: the scenario gets a sensitive
    placeholder (and replays with it)."""
    imported = import_incident(operator_files(record_embedded(SENSITIVE)))
    assert "kept-in-secrets-manager-1" not in imported.text
    assert "db_password: {value: redacted-db-password, sensitive: true}" in imported.text
    assert "variable 'db_password'" in " ".join(imported.text.replace("#", " ").split())
    replay = run_text(imported.text)
    assert replay.passed, replay.report + imported.text
