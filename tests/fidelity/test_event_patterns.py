"""EventBridge event patterns against event_patterns.json (186 cases recorded on AWS, most
through TestEventPattern; each case's ``origin`` names the LocalStack test that recorded it).

Directly: ``patterns.compile_pattern`` + ``event_matches`` give AWS's answer ("match",
"no-match", or its InvalidEventPatternException message). Through the APIs: PutRule refuses
exactly what AWS refuses, with AWS's message; TestEventPattern answers ``Result`` as AWS
did; and where the event can be sent with PutEvents, a rule's target gets it or not."""

from __future__ import annotations

from typing import Any

import pytest

from sim.engines.embedded.fidelity import ApiHarness, pattern_case_direct

from .conftest import recorded_params


@pytest.mark.parametrize("case", recorded_params("event_patterns", kind="pattern"))
def test_the_matcher_answers_as_aws_did(case: dict[str, Any]) -> None:
    outcome = pattern_case_direct(case)
    assert outcome.agrees, outcome.explain()


@pytest.mark.parametrize("case", recorded_params("event_patterns"))
def test_put_rule_test_event_pattern_and_put_events_answer_as_aws_did(harness: ApiHarness, case: dict[str, Any]) -> None:
    outcome = harness.pattern_case(case)
    assert outcome.agrees, outcome.explain()
