"""Target input (Input, InputPath, InputTransformer) against input_transforms.json (38 cases
recorded on AWS: what the target received, or the PutTargets error).

Directly: ``targets.render_target_input``. Through the APIs: PutRule + PutTargets (refused
with AWS's ValidationException message where AWS refused) + PutEvents, then the body the
rule's SQS target received, with the per-run values (event id, time, region, account, rule
ARN) replaced by the recording's placeholders."""

from __future__ import annotations

from typing import Any

import pytest

from sim.engines.embedded.fidelity import ApiHarness, transform_case_direct

from .conftest import recorded_params


@pytest.mark.parametrize("case", recorded_params("input_transforms"))
def test_the_target_input_is_what_aws_delivered(case: dict[str, Any]) -> None:
    outcome = transform_case_direct(case)
    assert outcome.agrees, outcome.explain()


@pytest.mark.parametrize("case", recorded_params("input_transforms"))
def test_put_targets_and_delivery_answer_as_aws_did(harness: ApiHarness, case: dict[str, Any]) -> None:
    outcome = harness.transform_case(case)
    assert outcome.agrees, outcome.explain()
