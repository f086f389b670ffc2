"""The control plane's REST API as a test calls it: one method per route, each returning
the :class:`~sim.engines.gateway.ApiResponse` API Gateway would have answered, and
:meth:`TenantApi.wait_for`, which drives the simulated clock until a tenant gets somewhere.

    api = TenantApi(env)
    api.create("acme", {"tier": "gold"})
    api.wait_for("acme", "ready")
    api.as_principal("reader").get("acme")   # signed as the reader (None: unsigned)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.controlplane.statuses import TenantStatus
    from sim.engines.base import Backend
    from sim.engines.gateway import ApiResponse

#: Far enough that the daily decommission never deletes a tenant a test did not date.
FAR_DECOMMISSION_DATE = "2099-12-31"

#: Simulated seconds :meth:`TenantApi.wait_for` gives a flow by default.
FLOW_DEADLINE = 6 * 3600


class TenantApi:
    """Calls are signed as ``principal`` (a role of the stack's credentials table; the
    operator by default) when the stack's auth is ``iam``; ``None`` sends them unsigned."""

    def __init__(self, env: Backend, *, principal: str | None = "operator") -> None:
        self._env = env
        self.principal = principal

    def as_principal(self, principal: str | None) -> TenantApi:
        """The same API, called as ``principal`` (``"reader"``; ``None``: unsigned)."""
        return TenantApi(self._env, principal=principal)

    def _call(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> ApiResponse:
        return self._env.api(method, path, body, query, headers, principal=self.principal)

    def create(
        self, code: str, variables: dict[str, str] | None = None, decommission_date: str = FAR_DECOMMISSION_DATE,
        *, idempotency_key: str | None = None,
    ) -> ApiResponse:
        body = {"tenant_code": code, "variables": variables or {}, "decommission_date": decommission_date}
        return self._call("POST", "/tenants", body, headers=_key(idempotency_key))

    def get(self, code: str) -> ApiResponse:
        return self._call("GET", f"/tenants/{code}")

    def update(self, code: str, *, idempotency_key: str | None = None, **fields: Any) -> ApiResponse:
        """``PATCH``: ``variables=`` and/or ``decommission_date=``."""
        return self._call("PATCH", f"/tenants/{code}", fields, headers=_key(idempotency_key))

    def delete(self, code: str, *, idempotency_key: str | None = None) -> ApiResponse:
        return self._call("DELETE", f"/tenants/{code}", headers=_key(idempotency_key))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> ApiResponse:
        """One page; ``cursor`` is the previous page's ``next``."""
        query = {k: str(v) for k, v in (("limit", limit), ("next", cursor)) if v is not None}
        return self._call("GET", "/tenants", query=query or None)

    def secrets(self, code: str) -> ApiResponse:
        """``GET /tenants/{code}/secrets``: the sensitive outputs (operators only)."""
        return self._call("GET", f"/tenants/{code}/secrets")

    def wait_for(self, code: str, status: TenantStatus | str, *, max_seconds: float = FLOW_DEADLINE) -> dict[str, Any]:
        """Drive the simulated clock until the tenant's status is ``status``; return its row.
        An unknown status is refused at once (ValueError, naming the statuses); after
        ``max_seconds`` an AssertionError names the status the tenant was left in and its
        ``last_error``."""
        from sim.controlplane.statuses import TenantStatus

        if str(status) not in {s.value for s in TenantStatus}:
            raise ValueError(f"unknown status {str(status)!r}: a tenant is {', '.join(s.value for s in TenantStatus)}")
        if not self._env.run_until(lambda: self._env.status(code) == status, max_seconds=max_seconds):
            row = self._env.tenant(code)
            if row is None:
                left = "has no row (never created, or its create was refused)"
            else:
                left = f"still {row.get('status')!r}" + (f" (last_error: {row['last_error']!r})" if row.get("last_error") else "")
            raise AssertionError(f"tenant {code!r} {left} after {max_seconds:g} simulated seconds, not {str(status)!r}")
        row = self._env.tenant(code)
        assert row is not None
        return row


def _key(idempotency_key: str | None) -> dict[str, str] | None:
    return None if idempotency_key is None else {"Idempotency-Key": idempotency_key}
