"""A trace for people: one line per record (``python -m sim trace show``), and where two
records differ, field by field (``python -m sim replay``)."""

from __future__ import annotations

from typing import Any

from sim.controlplane.config import tenant_of_workspace

from .trace import (
    AlarmRecord,
    ApiRecord,
    DdbRecord,
    DeliveryRecord,
    DlqRecord,
    FaultRecord,
    FlowDlqRecord,
    LambdaRecord,
    Record,
    SnsRecord,
    StatusRecord,
    StepRecord,
    TfcRecord,
)


def tenant_of(r: Record) -> str | None:
    if isinstance(r, ApiRecord):
        code = r.tenant_code
        if code is None and r.path.startswith("/tenants/"):
            code = r.path.split("/")[2] or None
        return code
    if isinstance(r, SnsRecord):
        return r.tenant_code
    if isinstance(r, TfcRecord):
        return tenant_of_workspace(r.workspace) if r.workspace else None
    if isinstance(r, StepRecord):
        tenant = r.details.get("tenant")
        return tenant if isinstance(tenant, str) else None
    tenant = getattr(r, "tenant", None)
    return tenant if isinstance(tenant, str) else None


def describe(r: Record) -> str:
    """What the record says, in a line."""
    if isinstance(r, ApiRecord):
        answer = r.body.get("status") or r.body.get("error") or ""
        return f"API {r.method} {r.path} -> {r.status} {answer}{' (replayed)' if r.replayed else ''}".rstrip()
    if isinstance(r, StatusRecord):
        tail = f" ({r.last_error})" if r.last_error else ""
        return f"status {r.from_ or '(new)'} -> {r.to}{tail}"
    if isinstance(r, LambdaRecord):
        name = r.function.rsplit("-", 1)[-1]
        what = "throttled" if r.throttled else f"error {r.error}" if r.error else "ok"
        extra = f", run {r.run_status}" if r.run_status else ""
        if r.decommission is not None:
            d = r.decommission
            extra = f", {d.get('date')}: deleting {d.get('deleting') or []}, skipped {d.get('skipped_mid_flow') or []}"
        took = f" ({r.t - r.started:g} s)" if r.t != r.started else ""
        return f"Lambda {name} #{r.n} {what}{extra}{took}"
    if isinstance(r, DeliveryRecord):
        return f"EventBridge {r.rule} -> {r.target}: {r.outcome}" + (f" ({r.detail})" if r.detail else "")
    if isinstance(r, TfcRecord):
        return f"TFC {r.method} {r.path} -> {r.status}" + (f" [{r.fault}]" if r.fault else "")
    if isinstance(r, FaultRecord):
        return f"fault fired: {r.fault}"
    if isinstance(r, DdbRecord):
        return f"DynamoDB {r.op} {r.status or ''} " + ("ok" if r.ok else f"refused: {r.error}")
    if isinstance(r, SnsRecord):
        return f"SNS {r.event} ({r.status})" + (f": {r.reason}" if r.reason else "")
    if isinstance(r, DlqRecord):
        return f"DLQ {r.queue}: {r.action} {r.error_code}, {r.retry_attempts} retries" + (f" ({r.exhausted})" if r.exhausted else "")
    if isinstance(r, FlowDlqRecord):
        return f"flow DLQ: {r.error}"
    if isinstance(r, AlarmRecord):
        return f"alarm {r.alarm}: {r.from_} -> {r.to}"
    if isinstance(r, StepRecord):
        details = ", ".join(f"{k}={v}" for k, v in sorted(r.details.items()))
        return f"step {r.step}" + (f": {details}" if details else "")
    return r.kind


def field_diff(recorded: dict[str, Any], replayed: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """The fields two records disagree on: ``(field, recorded value, replayed value)``;
    a field one of them lacks shows as ``<absent>``."""
    absent = "<absent>"
    keys = sorted(set(recorded) | set(replayed), key=lambda k: (k not in ("kind", "seq", "t"), k))
    return [(k, recorded.get(k, absent), replayed.get(k, absent)) for k in keys if recorded.get(k, absent) != replayed.get(k, absent)]
