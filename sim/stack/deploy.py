"""Apply a :class:`~sim.stack.wiring.Stack` through boto3 to whichever endpoint the clients
point at (the embedded backend, a LocalStack-compatible engine, or AWS)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sim.stack.wiring import Stack


@dataclass
class Deployed:
    stack: Stack
    queue_urls: dict[str, str]
    state_machines: dict[str, str]


_TRUST = {
    "states": "states.amazonaws.com",
    "events": "events.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
}


def _placeholder_zip() -> bytes:
    # The embedded backend runs handlers in-process; engines that run Lambda code get a
    # real package from the packaging step instead.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "tenant-sim: handlers run in-process on the embedded backend\n")
    return buf.getvalue()


def _exists_ok(fn: Callable[[], Any], *codes: str) -> Any:
    try:
        return fn()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in codes:
            return None
        raise


def deploy_alarms(clients: Callable[[str], Any], stack: Stack) -> str:
    """The operators' topic and the alarms that notify it; returns the topic's ARN."""
    operators: str = clients("sns").create_topic(Name=stack.operators_topic)["TopicArn"]
    cloudwatch = clients("cloudwatch")
    for alarm in stack.alarms:
        cloudwatch.put_metric_alarm(**alarm.put_metric_alarm(operators))
    return operators


def deploy(
    clients: Callable[[str], Any], stack: Stack, *, tfc_token: str, code_zip: bytes | None = None, alarms: bool = True
) -> Deployed:
    """Create every resource of the stack; safe to run again over an existing deployment.
    ``alarms=False`` leaves out :func:`deploy_alarms`, for a caller that runs it itself."""
    iam, sqs, sns, ddb = clients("iam"), clients("sqs"), clients("sns"), clients("dynamodb")
    sm, lam, events, sfn = clients("secretsmanager"), clients("lambda"), clients("events"), clients("stepfunctions")

    for role, principal in ((stack.states_role, "states"), (stack.events_role, "events"), (stack.lambda_role, "lambda")):
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": _TRUST[principal]}, "Action": "sts:AssumeRole"}]}
        _exists_ok(lambda: iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust)), "EntityAlreadyExists")
    iam.put_role_policy(RoleName=stack.lambda_role, PolicyName=f"{stack.prefix}-functions", PolicyDocument=json.dumps(stack.lambda_policy()))

    ddb_table = stack.table
    _exists_ok(
        lambda: ddb.create_table(
            TableName=ddb_table,
            KeySchema=[{"AttributeName": "tenant_code", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "tenant_code", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ResourceInUseException",
    )
    keys = stack.idempotency_table_spec()
    ttl = keys.pop("TimeToLiveSpecification")
    _exists_ok(lambda: ddb.create_table(**keys), "ResourceInUseException")
    # Time to Live: AWS refuses to set it again while it is already set ("TimeToLive is already enabled").
    if ddb.describe_time_to_live(TableName=stack.idempotency_table)["TimeToLiveDescription"].get("TimeToLiveStatus") != "ENABLED":
        ddb.update_time_to_live(TableName=stack.idempotency_table, TimeToLiveSpecification=ttl)
    sns.create_topic(Name=stack.topic)
    dlq_url = sqs.create_queue(QueueName=stack.dlq)["QueueUrl"]
    flow_dlq_url = sqs.create_queue(QueueName=stack.flow_dlq)["QueueUrl"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": stack.dlq_arn(),
                "Condition": {"ArnEquals": {"aws:SourceArn": [stack.arn("events", f"rule/{f.bus}/{f.rule}") for f in stack.flows]}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"Policy": json.dumps(policy)})
    secret = json.dumps({"token": tfc_token})
    if _exists_ok(lambda: sm.create_secret(Name=stack.secret, SecretString=secret), "ResourceExistsException") is None:
        sm.put_secret_value(SecretId=stack.secret, SecretString=secret)

    code = code_zip or _placeholder_zip()
    for fn in stack.functions:
        name = stack.function_name(fn.name)
        spec = dict(
            FunctionName=name,
            Runtime="python3.11",
            Role=stack.role_arn(stack.lambda_role),
            Handler=fn.handler,
            Timeout=fn.timeout,
            MemorySize=fn.memory,
            Environment={"Variables": stack.environment()},
        )
        if _exists_ok(lambda: lam.create_function(Code={"ZipFile": code}, **spec), "ResourceConflictException") is None:
            lam.update_function_configuration(**spec)

    definition = json.dumps(stack.definition())
    machines: dict[str, str] = {}
    for flow in stack.flows:
        arn = stack.state_machine_arn(flow.action)
        created = _exists_ok(
            lambda: sfn.create_state_machine(name=flow.state_machine, definition=definition, roleArn=stack.role_arn(stack.states_role)),
            "StateMachineAlreadyExists",
        )
        if created is None:
            sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        machines[flow.action.value] = arn

        _exists_ok(lambda: events.create_event_bus(Name=flow.bus), "ResourceAlreadyExistsException")
        events.put_rule(Name=flow.rule, EventBusName=flow.bus, EventPattern=json.dumps(flow.event_pattern()), State="ENABLED")
        resp = events.put_targets(Rule=flow.rule, EventBusName=flow.bus, Targets=[stack.target(flow.action)])
        if resp.get("FailedEntryCount"):
            raise RuntimeError(f"put_targets on {flow.rule} failed: {resp['FailedEntries']}")

    events.put_rule(Name=stack.decommission_rule, ScheduleExpression=stack.schedule, State="ENABLED")
    events.put_targets(Rule=stack.decommission_rule, Targets=[{"Id": "decommission", "Arn": stack.function_arn("decommission")}])
    events.put_rule(Name=stack.reconcile_rule, ScheduleExpression=stack.reconcile_schedule, State="ENABLED")
    events.put_targets(Rule=stack.reconcile_rule, Targets=[{"Id": "reconcile", "Arn": stack.function_arn("reconcile")}])
    if alarms:
        deploy_alarms(clients, stack)
    return Deployed(stack=stack, queue_urls={"dlq": dlq_url, "flow_dlq": flow_dlq_url}, state_machines=machines)
