"""The control plane's settings, read from the Lambda environment. The names of the
environment variables live here only: the stack writes them with :meth:`ControlPlaneSettings.environ`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .statuses import Action

#: Every tenant's workspace is named ``tenant-<code>``.
WORKSPACE_PREFIX = "tenant-"
DEFAULT_TFC_ADDRESS = "https://app.terraform.io"
#: Each tenant's secrets are named ``<prefix><code>/variables`` and ``<prefix><code>/outputs``.
TENANT_SECRET_PREFIX = "tenant-sim/tenants/"


class EnvVar(StrEnum):
    TABLE = "TENANT_TABLE"
    IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
    BUS_CREATE = "BUS_CREATE"
    BUS_UPDATE = "BUS_UPDATE"
    BUS_DELETE = "BUS_DELETE"
    TOPIC_ARN = "LIFECYCLE_TOPIC_ARN"
    TFC_SECRET_ID = "TFC_SECRET_ID"
    TFC_ADDRESS = "TFC_ADDRESS"
    TFC_ORGANIZATION = "TFC_ORGANIZATION"
    WORKSPACE_PREFIX = "WORKSPACE_PREFIX"
    DLQ_URL = "DLQ_URL"
    FLOW_DLQ_URL = "FLOW_DLQ_URL"
    RECONCILE_AFTER = "RECONCILE_AFTER_SECONDS"
    TENANT_SECRET_PREFIX = "TENANT_SECRET_PREFIX"


_BUS = {Action.CREATE: EnvVar.BUS_CREATE, Action.UPDATE: EnvVar.BUS_UPDATE, Action.DELETE: EnvVar.BUS_DELETE}
_REQUIRED = (EnvVar.TABLE, *_BUS.values())


def workspace_name(tenant_code: str, prefix: str = WORKSPACE_PREFIX) -> str:
    return f"{prefix}{tenant_code}"


def tenant_of_workspace(name: str, prefix: str = WORKSPACE_PREFIX) -> str | None:
    """The tenant code a workspace belongs to, or ``None`` for a workspace of no tenant."""
    return name.removeprefix(prefix) if name.startswith(prefix) else None


@dataclass(frozen=True)
class ControlPlaneSettings:
    table: str
    buses: Mapping[Action, str]
    topic_arn: str
    tfc_secret_id: str
    tfc_address: str
    tfc_organization: str
    workspace_prefix: str = WORKSPACE_PREFIX
    put_events_attempts: int = 3
    #: The rule targets' DLQ and the flow DLQ (what the redrive reads).
    dlq_url: str = ""
    flow_dlq_url: str = ""
    #: Seconds after a request was accepted past which a request still in progress with no
    #: live execution is ended by the reconciler (0: never).
    reconcile_after: int = 0
    #: The table of the REST API's idempotency keys ("": none; a request with a key is refused).
    idempotency_table: str = ""
    #: Where the tenants' sensitive variables and outputs are kept (Secrets Manager names).
    tenant_secret_prefix: str = TENANT_SECRET_PREFIX

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ControlPlaneSettings:
        env = os.environ if env is None else env
        missing = [k.value for k in _REQUIRED if not env.get(k)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        return cls(
            table=env[EnvVar.TABLE],
            buses={action: env[var] for action, var in _BUS.items()},
            topic_arn=env.get(EnvVar.TOPIC_ARN, ""),
            tfc_secret_id=env.get(EnvVar.TFC_SECRET_ID, ""),
            tfc_address=env.get(EnvVar.TFC_ADDRESS, DEFAULT_TFC_ADDRESS),
            tfc_organization=env.get(EnvVar.TFC_ORGANIZATION, ""),
            workspace_prefix=env.get(EnvVar.WORKSPACE_PREFIX, WORKSPACE_PREFIX),
            dlq_url=env.get(EnvVar.DLQ_URL, ""),
            flow_dlq_url=env.get(EnvVar.FLOW_DLQ_URL, ""),
            reconcile_after=int(env.get(EnvVar.RECONCILE_AFTER, "0") or 0),
            idempotency_table=env.get(EnvVar.IDEMPOTENCY_TABLE, ""),
            tenant_secret_prefix=env.get(EnvVar.TENANT_SECRET_PREFIX) or TENANT_SECRET_PREFIX,
        )

    def environ(self) -> dict[str, str]:
        """The Lambda environment :meth:`from_env` reads these settings back from (the
        workspace prefix only when it is not the default)."""
        env = {
            EnvVar.TABLE.value: self.table,
            **{var.value: self.buses[action] for action, var in _BUS.items()},
            EnvVar.TOPIC_ARN.value: self.topic_arn,
            EnvVar.TFC_SECRET_ID.value: self.tfc_secret_id,
            EnvVar.TFC_ADDRESS.value: self.tfc_address,
            EnvVar.TFC_ORGANIZATION.value: self.tfc_organization,
            EnvVar.TENANT_SECRET_PREFIX.value: self.tenant_secret_prefix,
        }
        if self.workspace_prefix != WORKSPACE_PREFIX:
            env[EnvVar.WORKSPACE_PREFIX.value] = self.workspace_prefix
        for var, value in (
            (EnvVar.DLQ_URL, self.dlq_url), (EnvVar.FLOW_DLQ_URL, self.flow_dlq_url), (EnvVar.IDEMPOTENCY_TABLE, self.idempotency_table),
        ):
            if value:
                env[var.value] = value
        if self.reconcile_after:
            env[EnvVar.RECONCILE_AFTER.value] = str(self.reconcile_after)
        return env

    def workspace_name(self, tenant_code: str) -> str:
        return workspace_name(tenant_code, self.workspace_prefix)
