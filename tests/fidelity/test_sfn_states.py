"""Step Functions Choice and Wait against sfn_choice.json (455 comparisons) and sfn_wait.json
(12 Wait cases), recorded on AWS: each case is a state machine created and executed through
the in-process Step Functions API, on the simulated clock."""

from __future__ import annotations

from typing import Any

import pytest

from sim.engines.embedded.fidelity import ApiHarness, load

from .conftest import recorded_params


@pytest.mark.parametrize("case", recorded_params("sfn_choice"))
def test_a_choice_takes_the_branch_aws_took(harness: ApiHarness, case: dict[str, Any]) -> None:
    outcome = harness.choice_case(load("sfn_choice")["template"], case)
    assert outcome.agrees, outcome.explain()


@pytest.mark.parametrize("case", recorded_params("sfn_wait"))
def test_a_wait_has_the_history_and_failure_aws_had(harness: ApiHarness, case: dict[str, Any]) -> None:
    """Includes the recorded boundary: 24,855 days ahead waits, 24,856 days ahead fails at
    once with States.Runtime "Wait state delay is too long"."""
    outcome = harness.wait_case(load("sfn_wait")["templates"], case)
    assert outcome.agrees, outcome.explain()
