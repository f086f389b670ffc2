"""The control plane's settings, read from the Lambda environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .statuses import Action


@dataclass(frozen=True)
class Settings:
    table: str
    buses: Mapping[Action, str]
    topic_arn: str
    tfc_secret_id: str
    tfc_address: str
    tfc_organization: str
    workspace_prefix: str = "tenant-"
    put_events_attempts: int = 3

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [k for k in ("TENANT_TABLE", "BUS_CREATE", "BUS_UPDATE", "BUS_DELETE") if not env.get(k)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        return cls(
            table=env["TENANT_TABLE"],
            buses={Action.CREATE: env["BUS_CREATE"], Action.UPDATE: env["BUS_UPDATE"], Action.DELETE: env["BUS_DELETE"]},
            topic_arn=env.get("LIFECYCLE_TOPIC_ARN", ""),
            tfc_secret_id=env.get("TFC_SECRET_ID", ""),
            tfc_address=env.get("TFC_ADDRESS", "https://app.terraform.io"),
            tfc_organization=env.get("TFC_ORGANIZATION", ""),
            workspace_prefix=env.get("WORKSPACE_PREFIX", "tenant-"),
        )

    def workspace_name(self, tenant_code: str) -> str:
        return f"{self.workspace_prefix}{tenant_code}"
