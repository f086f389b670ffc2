"""What the embedded backend keeps, and for how long. Step Functions keeps a closed
execution for 90 days, then it is gone: DescribeExecution answers ExecutionDoesNotExist,
ListExecutions no longer lists it, and its name may be used again (Step Functions service
quotas, "Maximum execution history retention time: 90 days"; StartExecution: a name "can be
reused 90 days after" the execution closed). The simulator's own logs keep a window when told
to."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.embedded.retention import AWS_EXECUTION_RETENTION_DAYS, DAY, Retention

HOUR = 3600.0


def _machine(env: EmbeddedBackend) -> str:
    sfn = env.client("stepfunctions")
    return sfn.create_state_machine(
        name="short", roleArn=f"arn:aws:iam::{env.stack.account}:role/r",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]


def test_the_default_is_what_aws_keeps():
    assert AWS_EXECUTION_RETENTION_DAYS == 90
    assert EmbeddedConfig().retention == Retention(execution_days=90, log_days=None)


def test_a_closed_execution_is_kept_for_its_retention_then_gone_and_its_name_free_again():
    with EmbeddedBackend(EmbeddedConfig(retention=Retention(execution_days=2, sweep_seconds=HOUR))) as env:
        sfn = env.client("stepfunctions")
        machine = _machine(env)
        arn = sfn.start_execution(stateMachineArn=machine, name="once", input="{}")["executionArn"]
        assert env.run_until(lambda: sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED", max_seconds=60)
        env.advance(2 * DAY - 2 * HOUR)
        assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
        assert [e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]] == ["once"]
        with pytest.raises(ClientError) as taken:
            sfn.start_execution(stateMachineArn=machine, name="once", input='{"other": 1}')
        assert taken.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
        env.advance(3 * HOUR)
        with pytest.raises(ClientError) as gone:
            sfn.describe_execution(executionArn=arn)
        assert gone.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
        with pytest.raises(ClientError):
            sfn.get_execution_history(executionArn=arn)
        assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
        assert env.retention is not None and env.retention.swept.executions == 1
        again = sfn.start_execution(stateMachineArn=machine, name="once", input='{"other": 1}')["executionArn"]
        assert env.run_until(lambda: sfn.describe_execution(executionArn=again)["status"] == "SUCCEEDED", max_seconds=60)


def test_a_running_execution_is_never_swept():
    with EmbeddedBackend(EmbeddedConfig(retention=Retention(execution_days=0, sweep_seconds=HOUR))) as env:
        sfn = env.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="long", roleArn=f"arn:aws:iam::{env.stack.account}:role/r",
            definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10 * 86400, "End": True}}}),
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="waits")["executionArn"]
        env.advance(3 * DAY)
        assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"


def test_the_simulator_s_logs_keep_the_window_they_are_given():
    with EmbeddedBackend(EmbeddedConfig(retention=Retention(execution_days=None, log_days=1, sweep_seconds=HOUR))) as env:
        resp = env.api("POST", "/tenants", {"tenant_code": "early", "variables": {"tier": "gold"}, "decommission_date": "2099-01-01"})
        assert resp.status == 202
        assert env.run_until(lambda: (env.tenant("early") or {}).get("status") == "ready", max_seconds=3600)
        early_calls = len(env.fake.journal.entries())
        last_seq = env.fake.journal.entries()[-1].seq
        assert env.invocations and env.deliveries and early_calls
        env.advance(2 * DAY)
        start = env.clock.now()
        assert env.api("PATCH", "/tenants/early", {"variables": {"tier": "silver"}}).status == 202
        assert env.run_until(lambda: (env.tenant("early") or {}).get("status") == "ready", max_seconds=3600)
        oldest = start - DAY - HOUR  # as of the last hourly sweep
        assert env.invocations and all(i.ended >= oldest for i in env.invocations)
        assert env.deliveries and all(d.at >= oldest for d in env.deliveries)
        kept = env.fake.journal.entries()
        assert kept and all(e.time >= oldest for e in kept)
        assert kept[0].seq > last_seq  # numbering goes on past what was dropped
        assert env.retention is not None and env.retention.swept.log_entries > early_calls


@pytest.mark.parametrize("kwargs, field", [({"execution_days": -1}, "execution_days"), ({"log_days": float("nan")}, "log_days"), ({"sweep_seconds": 0}, "sweep_seconds")])
def test_a_bad_retention_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Retention(**kwargs)
