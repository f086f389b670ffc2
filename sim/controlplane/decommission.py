"""The daily decommission: put a delete event on the delete bus (as the ``system``
actor, bypassing the API) for every tenant past its date that is not deleted. Tenants
mid-flow are skipped; the next day's run picks them up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .api import ApiDeps, delete
from .errors import ControlPlaneError


@dataclass
class DecommissionReport:
    deleting: list[str] = field(default_factory=list)
    skipped_mid_flow: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    #: Rows that could not be read (skipped; an operator must repair them), with why.
    malformed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"deleting": self.deleting, "skipped_mid_flow": self.skipped_mid_flow, "errors": self.errors, "malformed": self.malformed}


def decommission(deps: ApiDeps, today: date) -> DecommissionReport:
    report = DecommissionReport()
    for tenant in deps.store.due_for_decommission(today, report.malformed):
        if tenant.status.in_progress:
            report.skipped_mid_flow.append(tenant.tenant_code)
            continue
        try:
            delete(deps, tenant.tenant_code, actor="system")
        except ControlPlaneError as err:  # e.g. a flow began since the scan: retried tomorrow
            report.errors[tenant.tenant_code] = err.message
        else:
            report.deleting.append(tenant.tenant_code)
    return report
