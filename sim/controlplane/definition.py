"""The one Amazon States Language definition shared by the create, update and delete
state machines. Per-flow constants arrive in the input (``$.flow``) from each rule
target's input transformer; nothing here branches on the action."""

from __future__ import annotations

from typing import Any

from .flow import MAX_TASK_RETRIES

TRANSIENT_LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
]
#: The TFC client's own "retries ran out" error, and the control plane's for AWS calls
#: (DynamoDB, Secrets Manager) that kept failing transiently: worth another try later.
TRANSIENT_TASK_ERRORS = TRANSIENT_LAMBDA_ERRORS + ["TFCUnavailable", "AwsUnavailable"]


def _task(
    function_arn: str, payload: Any, result_selector: dict[str, Any] | None, result_path: str, next_state: str
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, **payload},
        "ResultPath": result_path,
        "Retry": [
            {
                "ErrorEquals": TRANSIENT_TASK_ERRORS,
                "IntervalSeconds": 2,
                "MaxAttempts": MAX_TASK_RETRIES,
                "BackoffRate": 2.0,
            }
        ],
        "Next": next_state,
    }
    if result_selector:
        state["ResultSelector"] = result_selector
    return state


def definition(trigger_arn: str, check_arn: str, finalize_arn: str, flow_dlq_url: str) -> dict[str, Any]:
    """``flow_dlq_url``: the SQS queue that receives the state of an execution whose
    Finalize failed for good, so that no accepted request is lost without a trace."""
    trigger = _task(
        trigger_arn,
        {"Payload.$": "$"},
        {"workspace_id.$": "$.Payload.workspace_id", "run_id.$": "$.Payload.run_id"},
        "$.run",
        "Wait",
    )
    trigger["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Finalize"}]
    check = _task(
        check_arn,
        {"Payload": {"run_id.$": "$.run.run_id", "count.$": "$.poll.count", "traceparent.$": "$.traceparent"}},
        {
            "count.$": "$.Payload.count",
            "status.$": "$.Payload.status",
            "finished.$": "$.Payload.finished",
            "succeeded.$": "$.Payload.succeeded",
        },
        "$.poll",
        "Done?",
    )
    check["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Finalize"}]
    finalize = _task(finalize_arn, {"Payload.$": "$"}, {"status.$": "$.Payload.status"}, "$.result", "")
    finalize.pop("Next")
    finalize["End"] = True
    # Finalize is idempotent (a second run finds the flow no longer in progress), so any
    # error is worth a few more tries before the flow's state goes to the flow DLQ.
    finalize["Retry"].append({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2.0})
    finalize["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.finalize_error", "Next": "DeadLetter"}]
    return {
        "Comment": "tenant-sim: Trigger -> Wait -> Check (loop) -> Finalize; one definition for create, update and delete",
        "StartAt": "Init",
        "States": {
            # The state every task reads: the event's detail, the flow's constants, the poll
            # count, and this execution's ARN (the context object), which Trigger writes on
            # the row to claim the request and Finalize to record who ended it; and the
            # request's trace context (empty when it was not traced), which every Task's
            # span joins.
            "Init": {
                "Type": "Pass",
                "Parameters": {
                    "detail.$": "$.detail", "flow.$": "$.flow", "poll": {"count": 0}, "execution.$": "$$.Execution.Id",
                    "traceparent.$": "$.traceparent",
                },
                "ResultPath": "$",
                "Next": "Trigger",
            },
            "Trigger": trigger,
            "Wait": {"Type": "Wait", "SecondsPath": "$.flow.wait_seconds", "Next": "Check"},
            "Check": check,
            "Done?": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.poll.finished", "BooleanEquals": True, "Next": "Finalize"},
                    {"Variable": "$.poll.count", "NumericGreaterThanEqualsPath": "$.flow.poll_budget", "Next": "Finalize"},
                ],
                "Default": "Wait",
            },
            "Finalize": finalize,
            "DeadLetter": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": flow_dlq_url, "MessageBody.$": "$"},
                "Next": "FinalizeFailed",
            },
            "FinalizeFailed": {"Type": "Fail", "Error": "FinalizeFailed", "Cause": "Finalize failed after retries; the flow's state is in the flow DLQ"},
        },
    }

