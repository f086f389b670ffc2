"""The control plane's stack, described once: buses, one rule per bus with its target,
input transformer, retry policy and DLQ; three state machines sharing one definition;
the Lambda functions and their role's policy; the tenant table; the lifecycle topic; the TFC
token secret (and where the tenants' secrets are named); the daily decommission schedule; the
CloudWatch alarms on failures and the operators' topic they notify. :mod:`sim.stack.deploy`
applies it through boto3 to any endpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sim.controlplane.api import SOURCE
from sim.controlplane.config import ControlPlaneSettings
from sim.controlplane.idempotency import KEY_ATTRIBUTE, TTL_ATTRIBUTE
from sim.controlplane.flow import DEFAULT_POLL_BUDGET, DEFAULT_WAIT_SECONDS, FlowConstants
from sim.controlplane.metrics import FAILED_FLOWS, NAMESPACE as METRICS_NAMESPACE
from sim.controlplane.statuses import Action

REGION = "us-east-1"
ACCOUNT = "123456789012"
HANDLERS = "sim.controlplane.handlers"
#: Every resource's name starts with this.
DEFAULT_PREFIX = "tenant-sim"
DEFAULT_TFC_ORGANIZATION = "tenant-sim"
#: The rule targets' RetryPolicy: AWS's own defaults (and maxima).
DEFAULT_RETRY_ATTEMPTS = 185
DEFAULT_MAX_EVENT_AGE = 86_400
#: Seconds per alarm period: one minute, the resolution SQS and Step Functions publish at.
DEFAULT_ALARM_PERIOD = 60


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    timeout: int = 30
    memory: int = 256


@dataclass(frozen=True)
class MetricAlarm:
    """One CloudWatch metric alarm: fires when ``statistic`` of the metric over a period
    compares to ``threshold`` in ``datapoints_to_alarm`` of the last ``evaluation_periods``
    periods. Every alarm of the stack notifies the operators' topic on ALARM and on OK."""

    name: str
    description: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int = DEFAULT_ALARM_PERIOD
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    threshold: float = 1.0
    comparison: str = "GreaterThanOrEqualToThreshold"
    #: The failure metrics only have data when something failed: no data is good news.
    treat_missing_data: str = "notBreaching"

    def put_metric_alarm(self, topic_arn: str) -> dict[str, Any]:
        """The PutMetricAlarm arguments."""
        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "Namespace": self.namespace,
            "MetricName": self.metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            "Statistic": self.statistic,
            "Period": self.period,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison,
            "TreatMissingData": self.treat_missing_data,
            "ActionsEnabled": True,
            "AlarmActions": [topic_arn],
            "OKActions": [topic_arn],
        }


@dataclass(frozen=True)
class Principal:
    """A caller the REST API knows (method-level auth ``AWS_IAM``): a role and the fixed test
    access key that signs as it. The secret is for tests and local use only; it is never
    exported nor logged."""

    role: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


#: The built-in principals: operators may do everything, readers may only read tenants
#: (never the sensitive outputs). Fixed test keys, documented in the README.
OPERATOR = Principal("operator", "AKIAOPERATOREXAMPLE1", "operator-secret-key-for-local-tests-only")
READER = Principal("reader", "AKIAREADEREXAMPLE001", "reader-secret-key-for-local-tests-only")


@dataclass(frozen=True)
class FlowSpec:
    """One action's wiring: bus, rule, target, state machine."""

    action: Action
    bus: str
    rule: str
    state_machine: str
    constants: FlowConstants

    @property
    def detail_type(self) -> str:
        return self.action.detail_type

    def event_pattern(self) -> dict[str, Any]:
        return {"source": [SOURCE], "detail-type": [self.detail_type]}

    def input_transformer(self) -> dict[str, Any]:
        """The per-flow constants ride in the template. String placeholders are quoted
        and the object placeholder is not (AWS: "quote variables holding strings, do not
        quote variables holding objects"). ``id`` is harmless on AWS and is what
        LocalStack's open-source EventBridge names the execution after (localstack#11970, #13336).

        ``traceparent`` lifts the event's W3C trace context (if the request was traced) to
        the top of the execution input, where every Task's input can name it. Unquoted: a
        path missing from the event gives ``""`` there (recorded on AWS: "template_json
        missing path (unquoted placeholder)"), so the field is always present and a
        ``$.traceparent`` path never fails."""
        flow = json.dumps(self.constants.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return {
            "InputPathsMap": {"id": "$.id", "detail": "$.detail", "traceparent": "$.detail.traceparent"},
            "InputTemplate": '{"id":"<id>","detail":<detail>,"traceparent":<traceparent>,"flow":' + flow + "}",
        }


@dataclass(frozen=True)
class Stack:
    prefix: str = DEFAULT_PREFIX
    region: str = REGION
    account: str = ACCOUNT
    wait_seconds: int = DEFAULT_WAIT_SECONDS
    poll_budget: int = DEFAULT_POLL_BUDGET
    tfc_address: str = "http://127.0.0.1:8484"
    tfc_organization: str = DEFAULT_TFC_ORGANIZATION
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    max_event_age: int = DEFAULT_MAX_EVENT_AGE
    #: TimeoutSeconds on every Lambda Task (None: Step Functions' default, which only the
    #: function's own timeout bounds in practice).
    task_timeout: int | None = None
    alarm_period: int = DEFAULT_ALARM_PERIOD
    schedule: str = "cron(0 3 * * ? *)"  # daily at 03:00 UTC
    reconcile_schedule: str = "rate(6 hours)"
    #: The REST API's method-level auth: ``iam`` (AWS_IAM: SigV4 and the resource policy,
    #: checked by the simulator's API Gateway layer) or ``none`` (the original design).
    auth: str = "iam"
    api_id: str = "tenantsim1"
    stage: str = "local"
    principals: tuple[Principal, ...] = (OPERATOR, READER)
    functions: tuple[FunctionSpec, ...] = field(
        default_factory=lambda: (
            FunctionSpec("api", f"{HANDLERS}.api"),
            FunctionSpec("trigger", f"{HANDLERS}.trigger_handler", timeout=60),
            FunctionSpec("check", f"{HANDLERS}.check_handler"),
            FunctionSpec("finalize", f"{HANDLERS}.finalize_handler", timeout=60),
            FunctionSpec("decommission", f"{HANDLERS}.decommission_handler", timeout=300),
            FunctionSpec("reconcile", f"{HANDLERS}.reconcile_handler", timeout=300),
            FunctionSpec("redrive", f"{HANDLERS}.redrive_handler", timeout=300),
        )
    )

    # ------------------------------------------------------------- names
    @property
    def table(self) -> str:
        return f"{self.prefix}-tenants"

    @property
    def idempotency_table(self) -> str:
        """The REST API's idempotency keys: one item per key, expired by Time to Live."""
        return f"{self.prefix}-idempotency-keys"

    def idempotency_table_spec(self) -> dict[str, Any]:
        """The key table's CreateTable request and its TimeToLiveSpecification."""
        return {
            "TableName": self.idempotency_table,
            "KeySchema": [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        }

    @property
    def topic(self) -> str:
        return f"{self.prefix}-lifecycle"

    @property
    def operators_topic(self) -> str:
        """Where the alarms notify the people who operate the control plane."""
        return f"{self.prefix}-operators"

    def operators_topic_arn(self) -> str:
        return self.arn("sns", self.operators_topic)

    @property
    def alarms(self) -> tuple[MetricAlarm, ...]:
        """A message on a DLQ (an event EventBridge could not deliver, or a flow whose
        Finalize failed for good), an execution that failed or timed out, a flow that ended
        ``failed`` (the control plane's own metric, one per failure lifecycle event)."""
        p = self.alarm_period
        out = [
            MetricAlarm(
                f"{self.prefix}-{short}-messages", f"a message is waiting on {queue}: {what}",
                "AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", queue),), "Maximum", period=p,
            )
            for short, queue, what in (
                ("events-dlq", self.dlq, "an event EventBridge could not hand to its state machine"),
                ("flow-dlq", self.flow_dlq, "a flow whose Finalize kept failing"),
            )
        ]
        for flow in self.flows:
            for short, metric, what in (("executions-failed", "ExecutionsFailed", "failed"), ("executions-timed-out", "ExecutionsTimedOut", "timed out")):
                out.append(
                    MetricAlarm(
                        f"{self.prefix}-{flow.action.value}-{short}", f"an execution of {flow.state_machine} {what}",
                        "AWS/States", metric, (("StateMachineArn", self.state_machine_arn(flow.action)),), "Sum", period=p,
                    )
                )
        out.append(
            MetricAlarm(
                f"{self.prefix}-failed-flows", "a flow ended failed (a tenant.*_failed lifecycle event)",
                METRICS_NAMESPACE, FAILED_FLOWS, (("Function", self.function_name("finalize")),), "Sum", period=p,
            )
        )
        return tuple(out)

    def alarm(self, suffix: str) -> MetricAlarm:
        """The alarm named ``<prefix>-<suffix>`` (or named ``suffix`` in full)."""
        for a in self.alarms:
            if a.name in (suffix, f"{self.prefix}-{suffix}"):
                return a
        raise KeyError(f"no alarm {suffix!r}; the stack has {', '.join(a.name for a in self.alarms)}")

    @property
    def secret(self) -> str:
        return f"{self.prefix}/tfc-token"

    @property
    def tenant_secret_prefix(self) -> str:
        """Each tenant's sensitive variables and outputs: ``<prefix>/tenants/<code>/variables``
        and ``.../outputs`` in Secrets Manager."""
        return f"{self.prefix}/tenants/"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}-events-dlq"

    @property
    def flow_dlq(self) -> str:
        """Where an execution whose Finalize failed for good leaves its state."""
        return f"{self.prefix}-flow-dlq"

    def flow_dlq_url(self) -> str:
        # The standard SQS queue URL form; every LocalStack-compatible engine accepts it.
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.flow_dlq}"

    def dlq_url(self) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.dlq}"

    @property
    def reconcile_rule(self) -> str:
        return f"{self.prefix}-reconcile"

    @property
    def reconcile_after(self) -> int:
        """When a request still in progress with no live execution is surely lost: EventBridge
        may retry its delivery for MaximumEventAgeInSeconds, then the flow may poll its whole
        budget; two hours more for task retries (the invariants' own flow deadline)."""
        return self.max_event_age + self.poll_budget * self.wait_seconds + 2 * 3600

    @property
    def decommission_rule(self) -> str:
        return f"{self.prefix}-decommission-daily"

    @property
    def events_role(self) -> str:
        return f"{self.prefix}-events-to-sfn"

    @property
    def states_role(self) -> str:
        return f"{self.prefix}-sfn-exec"

    @property
    def lambda_role(self) -> str:
        return f"{self.prefix}-lambda"

    def function_name(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def function_arn(self, short: str) -> str:
        return self.arn("lambda", f"function:{self.function_name(short)}")

    def state_machine_arn(self, action: Action) -> str:
        return self.arn("states", f"stateMachine:{self.flow(action).state_machine}")

    def topic_arn(self) -> str:
        return self.arn("sns", self.topic)

    def dlq_arn(self) -> str:
        return self.arn("sqs", self.dlq)

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{name}"

    # ------------------------------------------------------------- REST API auth
    def principal(self, role: str) -> Principal:
        for p in self.principals:
            if p.role == role:
                return p
        raise KeyError(f"no principal {role!r}; the stack has {', '.join(p.role for p in self.principals)}")

    def principal_by_key(self, access_key_id: str) -> Principal | None:
        return next((p for p in self.principals if p.access_key_id == access_key_id), None)

    def principal_role_arn(self, p: Principal) -> str:
        return self.role_arn(f"{self.prefix}-{p.role}")

    def caller_arn(self, p: Principal) -> str:
        """The session a principal's key signs as (what API Gateway names in a refusal)."""
        return f"arn:aws:sts::{self.account}:assumed-role/{self.prefix}-{p.role}/{p.role}"

    def method_arn(self, method: str, path: str) -> str:
        """``arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}/{path}``."""
        return self.arn("execute-api", f"{self.api_id}/{self.stage}/{method.upper()}/{path.lstrip('/')}")

    def resource_policy(self) -> dict[str, Any]:
        """The REST API's resource policy: operators may invoke every method; readers only
        ``GET /tenants`` and ``GET /tenants/*``, and never ``GET /tenants/*/secrets`` (the
        sensitive outputs: an explicit Deny, since ``tenants/*`` matches it too)."""
        operator, reader = (self.principal_role_arn(self.principal(r)) for r in ("operator", "reader"))
        return {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Operators", "Effect": "Allow", "Principal": {"AWS": operator}, "Action": "execute-api:Invoke",
                 "Resource": self.method_arn("*", "*")},
                {"Sid": "ReadersRead", "Effect": "Allow", "Principal": {"AWS": reader}, "Action": "execute-api:Invoke",
                 "Resource": [self.method_arn("GET", "tenants"), self.method_arn("GET", "tenants/*")]},
                {"Sid": "ReadersNoSecrets", "Effect": "Deny", "Principal": {"AWS": reader}, "Action": "execute-api:Invoke",
                 "Resource": self.method_arn("GET", "tenants/*/secrets")},
            ],
        }

    # ------------------------------------------------------------- flows
    @property
    def flows(self) -> tuple[FlowSpec, ...]:
        return tuple(self.flow(a) for a in Action)

    def flow(self, action: Action) -> FlowSpec:
        return FlowSpec(
            action=action,
            bus=f"{self.prefix}-{action.value}",
            rule=f"{self.prefix}-{action.value}-to-sfn",
            state_machine=f"{self.prefix}-{action.value}",
            constants=FlowConstants.for_action(action, wait_seconds=self.wait_seconds, poll_budget=self.poll_budget),
        )

    def target(self, action: Action) -> dict[str, Any]:
        f = self.flow(action)
        return {
            "Id": "state-machine",
            "Arn": self.state_machine_arn(action),
            "RoleArn": self.role_arn(self.events_role),
            "InputTransformer": f.input_transformer(),
            "RetryPolicy": {"MaximumRetryAttempts": self.retry_attempts, "MaximumEventAgeInSeconds": self.max_event_age},
            "DeadLetterConfig": {"Arn": self.dlq_arn()},
        }

    def environment(self) -> dict[str, str]:
        """Every function's environment (one shared set keeps the wiring in one place)."""
        return ControlPlaneSettings(
            table=self.table,
            buses={f.action: f.bus for f in self.flows},
            topic_arn=self.topic_arn(),
            tfc_secret_id=self.secret,
            tfc_address=self.tfc_address,
            tfc_organization=self.tfc_organization,
            dlq_url=self.dlq_url(),
            flow_dlq_url=self.flow_dlq_url(),
            reconcile_after=self.reconcile_after,
            idempotency_table=self.idempotency_table,
            tenant_secret_prefix=self.tenant_secret_prefix,
        ).environ()

    def lambda_policy(self) -> dict[str, Any]:
        """The functions' role policy: what the control plane calls, on its own resources
        only. Secrets Manager ARNs end in a random six-character suffix, hence ``-??????``;
        tenant secrets are ``<prefix>/tenants/*`` (one role for every function, as the stack
        has: the API writes the variables secrets and reads the outputs ones, Trigger reads
        the variables, Finalize writes the outputs and deletes both on decommission)."""
        tenant_secrets = self.arn("secretsmanager", f"secret:{self.tenant_secret_prefix}*")
        return {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "TenantTable", "Effect": "Allow",
                 "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan"],
                 "Resource": self.arn("dynamodb", f"table/{self.table}")},
                {"Sid": "IdempotencyKeys", "Effect": "Allow",
                 "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                 "Resource": self.arn("dynamodb", f"table/{self.idempotency_table}")},
                {"Sid": "Buses", "Effect": "Allow", "Action": "events:PutEvents",
                 "Resource": [self.arn("events", f"event-bus/{f.bus}") for f in self.flows]},
                {"Sid": "LifecycleTopic", "Effect": "Allow", "Action": "sns:Publish", "Resource": self.topic_arn()},
                {"Sid": "DeadLetterQueues", "Effect": "Allow",
                 "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
                 "Resource": [self.dlq_arn(), self.arn("sqs", self.flow_dlq)]},
                {"Sid": "Executions", "Effect": "Allow", "Action": "states:DescribeExecution",
                 "Resource": [self.arn("states", f"execution:{f.state_machine}:*") for f in self.flows]},
                {"Sid": "TfcToken", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": self.arn("secretsmanager", f"secret:{self.secret}-??????")},
                {"Sid": "TenantSecrets", "Effect": "Allow",
                 "Action": ["secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue",
                            "secretsmanager:DeleteSecret"],
                 "Resource": tenant_secrets},
            ],
        }

    def definition(self) -> dict[str, Any]:
        from sim.controlplane.definition import definition

        asl = definition(self.function_arn("trigger"), self.function_arn("check"), self.function_arn("finalize"), self.flow_dlq_url())
        if self.task_timeout is not None:
            for state in asl["States"].values():
                if state.get("Resource") == "arn:aws:states:::lambda:invoke":
                    state["TimeoutSeconds"] = self.task_timeout
        return asl

    def export(self) -> dict[str, Any]:
        """The wiring as a reviewer reads it: a diff here is a diff in the control plane."""
        return {
            "region": self.region,
            "table": self.table,
            "idempotency_table": self.idempotency_table_spec(),
            "topic": self.topic,
            "secret": self.secret,
            "tenant_secrets": f"{self.tenant_secret_prefix}<code>/variables, {self.tenant_secret_prefix}<code>/outputs",
            "lambda_role_policy": self.lambda_policy(),
            "dead_letter_queue": self.dlq,
            "flow_dead_letter_queue": self.flow_dlq,
            "functions": [{"name": self.function_name(f.name), "handler": f.handler, "timeout": f.timeout} for f in self.functions],
            "flows": [
                {
                    "action": f.action.value,
                    "bus": f.bus,
                    "rule": f.rule,
                    "event_pattern": f.event_pattern(),
                    "target": self.target(f.action),
                    "state_machine": f.state_machine,
                }
                for f in self.flows
            ],
            "state_machine_definition": self.definition(),
            "schedule": {"rule": self.decommission_rule, "expression": self.schedule, "target": self.function_arn("decommission")},
            "reconcile_schedule": {
                "rule": self.reconcile_rule, "expression": self.reconcile_schedule, "target": self.function_arn("reconcile"),
                "reconcile_after_seconds": self.reconcile_after,
            },
            "environment": self.environment(),
            "operators_topic": self.operators_topic,
            "alarms": [a.put_metric_alarm(self.operators_topic_arn()) for a in self.alarms],
            "rest_api": {
                "id": self.api_id,
                "stage": self.stage,
                "authorization": "AWS_IAM" if self.auth == "iam" else "NONE",
                "resource_policy": self.resource_policy(),
                "principals": [
                    {"role": self.principal_role_arn(p), "access_key_id": p.access_key_id} for p in self.principals
                ],
            },
        }
