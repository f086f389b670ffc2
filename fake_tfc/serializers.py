"""JSON:API documents for the fake's resources, in the shapes TFC sends."""

from __future__ import annotations

import hashlib
import math
from typing import Any, TypeVar

from .clock import iso, iso_seconds
from .runs import Phase, Run
from .state import StateOutput, StateVersion
from .statuses import TERMINAL
from .workspaces import Variable, Workspace

API = "/api/v2"

T = TypeVar("T")


def _ref(rtype: str, rid: str | None) -> dict[str, Any]:
    return {"data": {"id": rid, "type": rtype} if rid else None}


def project_id(org: str) -> str:
    return "prj-" + hashlib.sha256(f"default-project:{org}".encode()).hexdigest()[:16]


def user_id() -> str:
    return "user-fake0000000000000"


def workspace(ws: Workspace, *, current_run: Run | None, state: StateVersion | None, now: float) -> dict[str, Any]:
    locked = ws.locked_by is not None
    outputs = state.outputs if state is not None and state.processed(now) else []
    attrs = {
        "name": ws.name,
        **ws.settings,
        "actions": {"is-destroyable": True},
        "created-at": iso(ws.created_at),
        "updated-at": iso(ws.updated_at),
        "latest-change-at": iso(ws.updated_at),
        "environment": "default",
        "locked": locked,
        "locked-reason": "",
        "operations": ws.settings.get("execution-mode") == "remote",
        "resource-count": state.resources if state else 0,
        "source": "tfe-api",
        "vcs-repo": None,
        "vcs-repo-identifier": None,
        "setting-overwrites": {"execution-mode": False, "agent-pool": False},
        "permissions": {
            "can-update": True,
            "can-destroy": True,
            "can-queue-run": True,
            "can-queue-apply": True,
            "can-queue-destroy": True,
            "can-read-variable": True,
            "can-update-variable": True,
            "can-read-state-versions": True,
            "can-read-state-outputs": True,
            "can-create-state-versions": True,
            "can-lock": True,
            "can-unlock": True,
            "can-force-unlock": True,
            "can-read-settings": True,
            "can-manage-tags": True,
            "can-force-delete": True,
        },
    }
    rels = {
        "organization": _ref("organizations", ws.organization),
        "project": _ref("projects", project_id(ws.organization)),
        "current-run": _ref("runs", current_run.id if current_run else None),
        "latest-run": _ref("runs", current_run.id if current_run else None),
        "current-state-version": _ref("state-versions", state.id if state else None),
        "current-configuration-version": _ref("configuration-versions", ws.configuration_version_id),
        "locked-by": _ref("runs", ws.locked_by),
        "outputs": {
            "data": [{"id": o.id, "type": "workspace-outputs"} for o in outputs],
            "links": {"related": f"{API}/workspaces/{ws.id}/current-state-version-outputs"},
        },
        "vars": {"links": {"related": f"{API}/workspaces/{ws.id}/vars"}},
    }
    return {
        "id": ws.id,
        "type": "workspaces",
        "attributes": attrs,
        "relationships": rels,
        "links": {"self": f"{API}/organizations/{ws.organization}/workspaces/{ws.name}"},
    }


def variable(var: Variable, ws_id: str) -> dict[str, Any]:
    return {
        "id": var.id,
        "type": "vars",
        "attributes": {
            "key": var.key,
            # Sensitive values are write-only: never returned (decided: null, see README).
            "value": None if var.sensitive else var.value,
            "description": var.description,
            "sensitive": var.sensitive,
            "category": var.category.value,
            "hcl": var.hcl,
            "version-id": var.version_id,
        },
        "relationships": {"configurable": {**_ref("workspaces", ws_id), "links": {"related": f"{API}/workspaces/{ws_id}"}}},
        "links": {"self": f"{API}/workspaces/{ws_id}/vars/{var.id}"},
    }


def run(r: Run, *, position_in_queue: int, now: float) -> dict[str, Any]:
    status = r.shown_status()
    timestamps = {k: iso_seconds(v) for k, v in r.timestamps.items() if math.isfinite(v)}
    cancelable = r.is_cancelable()
    confirmable = r.awaiting_confirmation
    discardable = r.is_discardable()
    force_cancelable = r.is_force_cancelable(now)
    attrs: dict[str, Any] = {
        "status": status.value,
        "status-timestamps": timestamps,
        "is-destroy": r.is_destroy,
        "auto-apply": r.auto_apply,
        "has-changes": r.has_changes if r.plan.status.value == "finished" else False,
        "message": r.message,
        "source": "tfe-api",
        "trigger-reason": "manual",
        "plan-only": r.plan_only,
        "refresh": True,
        "refresh-only": False,
        "save-plan": False,
        "allow-empty-apply": False,
        "allow-config-generation": False,
        "target-addrs": None,
        "replace-addrs": None,
        "variables": [],
        "created-at": iso(r.created_at),
        "canceled-at": iso(r.canceled_at) if r.canceled_at is not None else None,
        "position-in-queue": position_in_queue,
        "terraform-version": "1.9.8",
        "actions": {
            "is-cancelable": cancelable,
            "is-confirmable": confirmable,
            "is-discardable": discardable,
            "is-force-cancelable": force_cancelable,
        },
        "permissions": {
            "can-apply": True,
            "can-cancel": True,
            "can-comment": True,
            "can-discard": True,
            "can-force-execute": True,
            "can-force-cancel": True,
            "can-override-policy-check": True,
        },
    }
    if r.force_cancel_available_at is not None and status not in TERMINAL:
        attrs["force-cancel-available-at"] = iso(r.force_cancel_available_at)
    rels = {
        "workspace": _ref("workspaces", r.workspace_id),
        "plan": {**_ref("plans", r.plan.id), "links": {"related": f"{API}/runs/{r.id}/plan"}},
        "apply": {**_ref("applies", r.apply.id), "links": {"related": f"{API}/runs/{r.id}/apply"}},
        "configuration-version": _ref("configuration-versions", None),
        "created-by": _ref("users", user_id()),
        "cost-estimate": _ref("cost-estimates", None),
        "input-state-version": _ref("state-versions", None),
        "policy-checks": {"data": [], "links": {"related": f"{API}/runs/{r.id}/policy-checks"}},
        "run-events": {"data": [], "links": {"related": f"{API}/runs/{r.id}/run-events"}},
        "task-stages": {"data": [], "links": {"related": f"{API}/runs/{r.id}/task-stages"}},
        "comments": {"data": [], "links": {"related": f"{API}/runs/{r.id}/comments"}},
    }
    return {"id": r.id, "type": "runs", "attributes": attrs, "relationships": rels, "links": {"self": f"{API}/runs/{r.id}"}}


def phase(r: Run, p: Phase, kind: str) -> dict[str, Any]:
    """A ``plans`` or ``applies`` document."""
    is_plan = kind == "plans"
    attrs = {
        "status": p.status.value,
        "status-timestamps": {k: iso_seconds(v) for k, v in p.timestamps.items()},
        "resource-additions": r.resource_additions if r.has_changes else 0,
        "resource-changes": 0,
        "resource-destructions": r.resource_destructions if r.has_changes else 0,
        "resource-imports": 0,
        "log-read-url": f"https://archivist.fake-tfc.invalid/v1/object/{p.id}",
        "execution-details": {"mode": "remote"},
    }
    if is_plan:
        attrs["has-changes"] = r.has_changes
        attrs["generated-configuration"] = False
    return {
        "id": p.id,
        "type": kind,
        "attributes": attrs,
        "relationships": {"run": _ref("runs", r.id)} if not is_plan else {},
        "links": {"self": f"{API}/{kind}/{p.id}"},
    }


def state_version(sv: StateVersion, *, now: float) -> dict[str, Any]:
    processed = sv.processed(now)
    outputs = sv.outputs if processed else []
    return {
        "id": sv.id,
        "type": "state-versions",
        "attributes": {
            "created-at": iso(sv.created_at),
            "serial": sv.serial,
            "size": 512 + 256 * sv.resources,
            "status": "finalized",
            "state-version": 4,
            "terraform-version": "1.9.8",
            "intermediate": False,
            "resources-processed": processed,
            "resources": (
                [{"name": f"r{i}", "type": "terraform_data", "count": 1, "module": "root", "provider": "provider[\"terraform.io/builtin/terraform\"]"} for i in range(sv.resources)]
                if processed
                else []
            ),
            "modules": {"root": {"terraform_data": sv.resources}} if processed else None,
            "providers": {"provider[\"terraform.io/builtin/terraform\"]": {"terraform_data": sv.resources}} if processed else None,
            "billable-rum-count": sv.resources if processed else None,
            "hosted-state-download-url": f"https://archivist.fake-tfc.invalid/v1/object/{sv.id}",
            "hosted-json-state-download-url": f"https://archivist.fake-tfc.invalid/v1/object/{sv.id}.json",
            "vcs-commit-url": None,
            "vcs-commit-sha": None,
        },
        "relationships": {
            "run": _ref("runs", sv.run_id),
            "workspace": _ref("workspaces", sv.workspace_id),
            "created-by": _ref("users", user_id()),
            "outputs": {"data": [{"id": o.id, "type": "state-version-outputs"} for o in outputs]},
        },
        "links": {"self": f"{API}/state-versions/{sv.id}"},
    }


def output(o: StateOutput, *, reveal: bool) -> dict[str, Any]:
    return {
        "id": o.id,
        "type": "state-version-outputs",
        "attributes": {
            "name": o.name,
            "sensitive": o.sensitive,
            "type": o.type,
            "value": o.value if (reveal or not o.sensitive) else None,
            "detailed-type": o.type if o.type != "array" else ["list", "string"],
        },
        "links": {"self": f"{API}/state-version-outputs/{o.id}"},
    }


def paginate(
    items: list[T], page: int, size: int, base_url: str
) -> tuple[list[T], dict[str, Any], dict[str, str | None]]:
    """(page items, meta, links) in TFC's pagination shape."""
    total = len(items)
    pages = max(1, math.ceil(total / size))
    start = (page - 1) * size
    chunk = items[start : start + size]

    def link(n: int) -> str:
        return f"{base_url}?page%5Bnumber%5D={n}&page%5Bsize%5D={size}"

    meta = {
        "pagination": {
            "current-page": page,
            "page-size": size,
            "prev-page": page - 1 if page > 1 else None,
            "next-page": page + 1 if page < pages else None,
            "total-pages": pages,
            "total-count": total,
        }
    }
    links = {
        "self": link(page),
        "first": link(1),
        "prev": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if page < pages else None,
        "last": link(pages),
    }
    return chunk, meta, links
