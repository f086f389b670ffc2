"""What each engine supports: the one declaration behind the README's feature table, the
scenario runner's "needs" (a scenario an engine cannot run is skipped with the reason written
here) and the MiniStack suite's expected failures (``@pytest.mark.feature(KEY)``).

A cell says one of three things: **tested here** (a test in this repository exercises it on
that engine), **not testable here** (it should work, but no such engine runs on this machine:
LocalStack needs Docker and an auth token, AWS an account) or **not supported** (the engine
lacks it; the note says how we know).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: The engines of the table, in its column order (AWS itself is a column, not an engine).
COLUMNS = ("embedded", "ministack", "localstack", "aws")
TITLES = {"embedded": "embedded", "ministack": "MiniStack", "localstack": "LocalStack", "aws": "AWS"}


class Support(StrEnum):
    TESTED = "tested here"
    UNTESTABLE = "not testable here"
    UNSUPPORTED = "not supported"


@dataclass(frozen=True)
class Cell:
    support: Support
    note: str = ""

    @property
    def available(self) -> bool:
        """Expected to work there (tested, or not testable here but not known to be missing)."""
        return self.support is not Support.UNSUPPORTED

    def text(self) -> str:
        return f"{self.support.value} ({self.note})" if self.note else self.support.value


T, U, N = Cell(Support.TESTED), Cell(Support.UNTESTABLE), Cell(Support.UNSUPPORTED)


def t(note: str) -> Cell:
    return Cell(Support.TESTED, note)


def u(note: str) -> Cell:
    return Cell(Support.UNTESTABLE, note)


def n(note: str) -> Cell:
    return Cell(Support.UNSUPPORTED, note)


@dataclass(frozen=True)
class Feature:
    key: str
    title: str
    embedded: Cell
    ministack: Cell
    localstack: Cell
    aws: Cell = U

    def cell(self, engine: str) -> Cell:
        if engine not in COLUMNS:
            raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(COLUMNS)}")
        cell: Cell = getattr(self, engine)
        return cell


FEATURES: tuple[Feature, ...] = (
    Feature("deploy", "stack deployed through boto3 (`sim.stack.deploy`)", T, T, U),
    Feature("lambda_zip", "real Lambda zip, handlers run by the engine", n("in-process dispatcher, placeholder zip"), T, U),
    Feature("api_proxy", "API through a proxy event (lambda.invoke), 400/404/409", T, T, U),
    Feature("put_events", "PutEvents from a Lambda, rule pattern per bus", T, T, U),
    Feature("input_transformer", "EventBridge to Step Functions with input transformer", T, T, u('needs `"id"` in the template: ours has it')),
    Feature("execution_name", "execution name a fresh UUID per delivery", T, T, n("named after the input's `id`")),
    Feature("retry_policy", "EventBridge RetryPolicy on the target", T, n("a failed delivery is attempted once"), n("not in the open-source build")),
    Feature("dlq", "EventBridge target DLQ with attributes", T, n("`DeadLetterConfig` stored and ignored"), n("not in the open-source build")),
    Feature("start_execution_faults", "StartExecution refused or throttled on demand (fault injection)", T, n("no EventBridge target fault injection"), n("no EventBridge target fault injection")),
    Feature("lambda_invoke_task", "`lambda:invoke` Task, ResultSelector", T, T, U),
    Feature("wait_choice", "Wait with `SecondsPath`, Choice loop", T, T, U),
    Feature("retry_by_error_name", "Retry by the handler's exception name (`TFCUnavailable`)", T, n("`Runtime.HandlerError`, xfail"), U),
    Feature("retry_catch", "Retry `States.ALL`, Catch to Finalize", T, T, U),
    Feature("lambda_faults", "`Lambda.TooManyRequestsException` retried (throttle injection)", T, n("no Lambda fault injection"), n("chaos API is Enterprise")),
    Feature("flow_dlq", "`sqs:sendMessage` to the flow DLQ, Fail state", T, T, U),
    Feature("lifecycle", "create -> ready with outputs, update, delete -> workspace removed", T, T, U),
    Feature("lifecycle_events", "lifecycle events SNS -> SQS", T, T, U),
    Feature("decommission", "decommission handler", T, t("invoked directly"), U),
    Feature("schedule", "daily `cron` schedule firing", t("simulated clock"), u("wall clock: 03:00 UTC"), U),
    Feature("poll_budget", "poll budget exhausted (96 x 120 s)", t("simulated clock"), u("3.2 h of real time"), U),
    Feature("simulated_clock", "simulated clock: days of scenario time in seconds", T, n("wall clock; `SFN_WAIT_SCALE` scales Wait and Retry only"), n("wall clock"), N),
    Feature("time_scaling", "Wait/Retry time scaling", t("simulated clock"), t("`SFN_WAIT_SCALE`"), n("localstack#13099"), N),
    Feature("put_events_failure", "PutEvents failure -> API 503 and rollback", T, n("no EventBridge fault injection"), U),
    Feature("tfc_faults", "fault rules on the fake TFC (ours on every engine)", T, T, U, U),
    Feature("idempotency_keys", "`Idempotency-Key`: a retry replayed, a different request 422, one flow", T, T, U),
    Feature("secrets", "sensitive variables and outputs kept in Secrets Manager, shown redacted, revealed apart", T, T, U),
    Feature("iam_auth", "REST API `AWS_IAM` per method: SigV4, the stack's resource policy (our API Gateway layer)", T, T, U),
    Feature(
        "tracing", "OpenTelemetry spans, one trace from the API request to TFC (`--otlp`)", t("simulated time, seeded ids"),
        n("the Lambdas run in MiniStack's processes: their spans are not collected"),
        n("the Lambdas run in LocalStack's processes: their spans are not collected"),
    ),
    Feature(
        "alarms", "CloudWatch metric alarms evaluated, notifications to SNS", t("simulated clock, `alarms.py`"),
        n("alarms deployed; their states are not observed by the remote scenario stage"),
        n("alarms deployed; their states are not observed by the remote scenario stage"),
    ),
)

BY_KEY: dict[str, Feature] = {f.key: f for f in FEATURES}


def feature(key: str) -> Feature:
    try:
        return BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown feature {key!r}") from None


def markdown_table() -> str:
    """The README's feature table."""
    head = "| feature | " + " | ".join(TITLES[c] for c in COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    rows = [f"| {f.title} | " + " | ".join(f.cell(c).text() for c in COLUMNS) + " |" for f in FEATURES]
    return "\n".join([head, rule, *rows]) + "\n"
