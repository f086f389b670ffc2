"""Each tenant's sensitive values in Secrets Manager, never in the tenant row.

Two secrets per tenant, each a JSON object of name to value:

* ``<prefix><code>/variables``: the sensitive variables, written by the API (create and
  update) before the row. Every write is a new version holding *all* the tenant's current
  sensitive values, so that the row and the event refer to one version.
* ``<prefix><code>/outputs``: the outputs TFC marks sensitive, written by Finalize.

Writes are idempotent: the ``ClientRequestToken`` is the request id (on AWS it becomes the
version id), and a write of the same token with the same value is a no-op, so a retried
Lambda never makes a second version nor fails. References name a version, not the current
one: a flow reads exactly what its request wrote. A version written for a request that was
then refused or rolled back is current but named by no row; the version the row names
stays ``AWSPREVIOUS`` (Secrets Manager removes unlabelled versions only past 100 versions).

Decommission deletes both with ``ForceDeleteWithoutRecovery``: the destroy run already
removed what the values open, and a secret left in its recovery window would block a tenant
re-created under the same code (Secrets Manager refuses to create a secret whose name is
scheduled for deletion).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .aws import describe, transient
from .config import TENANT_SECRET_PREFIX
from .errors import AwsUnavailable
from .models import OutputsRef
KINDS = ("variables", "outputs")
ATTEMPTS = 4


def secret_name(prefix: str, tenant_code: str, kind: str) -> str:
    return f"{prefix}{tenant_code}/{kind}"


def _code(exc: BaseException) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


class TenantSecrets:
    """The tenants' secrets through one Secrets Manager client."""

    def __init__(self, client: Any, prefix: str = TENANT_SECRET_PREFIX, attempts: int = ATTEMPTS) -> None:
        self._sm = client
        self.prefix = prefix
        self._attempts = attempts

    def name(self, tenant_code: str, kind: str) -> str:
        return secret_name(self.prefix, tenant_code, kind)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """A call safe to repeat (reads, and writes made idempotent by their token), tried
        again while it fails transiently; then :class:`AwsUnavailable` (API: 503; a flow's
        Retry waits it out)."""
        last: BaseException | None = None
        for _ in range(self._attempts):
            try:
                return getattr(self._sm, operation)(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                if not transient(exc):
                    raise
                last = exc
        raise AwsUnavailable(f"Secrets Manager did not answer {operation} ({describe(last) if last else 'no attempt'}); retry")

    def write(self, tenant_code: str, kind: str, values: dict[str, Any], token: str) -> tuple[str, str]:
        """Write ``values`` as a new version of the tenant's ``kind`` secret, creating the
        secret on first use; ``token`` (a request id) makes a retried write a no-op. Returns
        the secret's name and the version written (references name it: on AWS it is the
        token, but some engines choose their own)."""
        name = self.name(tenant_code, kind)
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        try:
            resp = self._call("create_secret", Name=name, SecretString=text, ClientRequestToken=token,
                              Description=f"tenant-sim: sensitive {kind} of tenant {tenant_code}")
        except ClientError as exc:
            if _code(exc) != "ResourceExistsException":
                raise
            resp = self._call("put_secret_value", SecretId=name, SecretString=text, ClientRequestToken=token)
        return name, str(resp.get("VersionId") or token)

    def read(self, secret: str, version: str) -> dict[str, Any]:
        """The values of one version of a secret."""
        resp = self._call("get_secret_value", SecretId=secret, VersionId=version)
        values: dict[str, Any] = json.loads(resp["SecretString"])
        return values

    def outputs(self, ref: OutputsRef) -> dict[str, Any]:
        return self.read(ref.secret, ref.version)

    def delete(self, tenant_code: str) -> list[str]:
        """Delete the tenant's secrets at once (no recovery window); a secret that is not
        there is done already. Returns the names deleted."""
        deleted = []
        for kind in KINDS:
            name = self.name(tenant_code, kind)
            try:
                self._call("delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)
            except ClientError as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
                continue
            deleted.append(name)
        return deleted
