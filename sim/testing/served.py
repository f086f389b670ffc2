"""A running ``python -m sim up`` as the plugin's backend (``--sim-connect URL``): the REST API
over HTTP, AWS clients on its endpoint, and its simulated clock driven through the control
API (start it with ``--virtual-clock`` so that only the tests move time).

Nothing is reset between tests (the served backend lives on): use a tenant code per test."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from sim.engines.base import TenantReads
from sim.engines.gateway import ApiResponse
from sim.engines.iam_auth import ANONYMOUS, DEFAULT_PRINCIPAL, httpx_auth

#: Simulated seconds one control-API advance moves while waiting for a condition.
STEP = 15.0


class ServedClock:
    """The served backend's simulated clock, through ``/_sim/clock``."""

    def __init__(self, control: httpx.Client) -> None:
        self._control = control

    def _state(self, resp: httpx.Response) -> dict[str, Any]:
        resp.raise_for_status()
        state: dict[str, Any] = resp.json()
        return state

    def now(self) -> float:
        return float(self._state(self._control.get("/clock"))["now"])

    def advance(self, seconds: float) -> float:
        return float(self._state(self._control.post("/clock/advance", json={"seconds": seconds}))["now"])

    def advance_to(self, when: float) -> float:
        return self.advance(max(0.0, when - self.now()))

    def run_until(self, predicate: Callable[[], bool], *, max_seconds: float) -> bool:
        """Advance in steps of :data:`STEP` simulated seconds until ``predicate()`` holds."""
        spent = 0.0
        while not predicate():
            if spent >= max_seconds:
                return False
            step = min(STEP, max_seconds - spent)
            self.advance(step)
            spent += step
        return True


class ServedBackend(TenantReads):
    """What the fixtures hand out when connected to ``sim up`` (``control_url``: its
    ``/_sim`` base, e.g. ``http://127.0.0.1:8484/_sim``)."""

    def __init__(self, control_url: str) -> None:
        self.control = httpx.Client(base_url=control_url.rstrip("/"), timeout=120)
        try:
            endpoints = self.control.get("/endpoints")
        except httpx.HTTPError as exc:
            self.control.close()
            raise ConnectionError(f"no sim up control API at {control_url} ({exc}); start one with: python -m sim up --virtual-clock") from None
        endpoints.raise_for_status()
        self.endpoints: dict[str, str] = endpoints.json()
        self.http = httpx.Client(base_url=self.endpoints["api"], timeout=120)
        self.clock = ServedClock(self.control)

    def __enter__(self) -> ServedBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.control.close()

    def api(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
        *, principal: str | None = DEFAULT_PRINCIPAL,
    ) -> ApiResponse:
        """Over HTTP, signed as ``principal`` of the served stack (``None``/``"anonymous"``: unsigned)."""
        auth = None if principal in (None, ANONYMOUS) else httpx_auth(str(principal))
        resp = self.http.request(
            method, path, content=None if body is None else json.dumps(body), params=query, headers=headers, auth=auth,
        )
        return ApiResponse(resp.status_code, resp.json() if resp.content else None, dict(resp.headers), resp.text)

    def run_until(self, predicate: Callable[[], bool], *, max_seconds: float) -> bool:
        return self.clock.run_until(predicate, max_seconds=max_seconds)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service, endpoint_url=self.endpoints["aws"], region_name=self.endpoints.get("region", "us-east-1"),
            aws_access_key_id="test", aws_secret_access_key="test",
        )
