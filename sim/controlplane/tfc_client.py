"""The control plane's Terraform Cloud client: the few calls it makes, over httpx.

It retries 429 and 5xx answers (and lost connections) with backoff, honouring
``Retry-After`` (then ``X-RateLimit-Reset``), and never puts the token in a log line,
an exception message or a repr (httpx masks the Authorization header in its reprs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

JSONAPI = "application/vnd.api+json"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
SUCCESS_RUN_STATUSES = frozenset({"applied", "planned_and_finished"})
FAILURE_RUN_STATUSES = frozenset(
    {"errored", "canceled", "force_canceled", "discarded", "policy_soft_failed"}
)


class TFCError(Exception):
    """A TFC call failed for good. ``status`` is the last HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class TFCNotFound(TFCError):
    pass


class TFCConflict(TFCError):
    pass


class TFCInvalid(TFCError):
    pass


class TFCAuthError(TFCError):
    pass


class TFCUnavailable(TFCError):
    """Retries ran out on 429/5xx or lost connections: a transient condition."""

    def __init__(self, message: str, status: int = 0, retry_after: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RunState:
    id: str
    status: str

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCESS_RUN_STATUSES

    @property
    def failed(self) -> bool:
        return self.status in FAILURE_RUN_STATUSES

    @property
    def finished(self) -> bool:
        return self.succeeded or self.failed


@dataclass(frozen=True)
class VariableSpec:
    key: str
    value: str
    category: str = "terraform"
    sensitive: bool = False
    hcl: bool = False


class TFCClient:
    def __init__(
        self,
        address: str,
        token: str,
        organization: str,
        *,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.organization = organization
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=address.rstrip("/"),
            transport=transport,
            timeout=timeout,
            headers={"Accept": JSONAPI, "Content-Type": JSONAPI, "Authorization": f"Bearer {token}"},
        )

    def __repr__(self) -> str:
        return f"TFCClient({str(self._http.base_url)!r}, organization={self.organization!r})"

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------- transport
    def _request(self, method: str, path: str, body: dict | None = None, params: dict | None = None, retries: int | None = None) -> httpx.Response:
        limit = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                resp = self._http.request(method, path, json=body, params=params)
            except httpx.TransportError as exc:
                if attempt >= limit:
                    raise TFCUnavailable(f"{method} {path}: no answer after {attempt + 1} tries ({type(exc).__name__})") from None
                wait = self._backoff(attempt)
            else:
                if resp.status_code < 400:
                    return resp
                if resp.status_code not in RETRY_STATUSES or attempt >= limit:
                    raise self._error(method, path, resp, attempt)
                wait = _server_wait(resp)
                if wait is None:
                    wait = self._backoff(attempt)
            log.info("tfc %s %s: retry %d in %.2fs", method, path, attempt + 1, wait)
            self._sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, self.backoff_base * 2**attempt)

    @staticmethod
    def _error(method: str, path: str, resp: httpx.Response, attempt: int) -> TFCError:
        detail = _detail(resp)
        msg = f"{method} {path}: HTTP {resp.status_code}: {detail}"
        status = resp.status_code
        if status in RETRY_STATUSES:
            return TFCUnavailable(f"{msg} (after {attempt + 1} tries)", status, _server_wait(resp))
        cls = {401: TFCAuthError, 403: TFCAuthError, 404: TFCNotFound, 409: TFCConflict, 422: TFCInvalid}.get(status, TFCError)
        return cls(msg, status)

    # ----------------------------------------------------------- workspaces
    def find_workspace(self, name: str) -> str | None:
        try:
            resp = self._request("GET", f"/api/v2/organizations/{self.organization}/workspaces/{name}")
        except TFCNotFound:
            return None
        return resp.json()["data"]["id"]

    def ensure_workspace(self, name: str) -> str:
        """The workspace's id, creating it (auto-apply on) if missing. A concurrent or
        retried create that lost the race gets 422 "already been taken": read it."""
        found = self.find_workspace(name)
        if found is not None:
            return found
        body = {"data": {"type": "workspaces", "attributes": {"name": name, "auto-apply": True}}}
        try:
            resp = self._request("POST", f"/api/v2/organizations/{self.organization}/workspaces", body)
        except TFCInvalid as exc:
            if "already been taken" not in str(exc):
                raise
            found = self.find_workspace(name)
            if found is None:
                raise
            return found
        return resp.json()["data"]["id"]

    def delete_workspace(self, workspace_id: str) -> None:
        """Force delete; a workspace already gone counts as deleted."""
        try:
            self._request("DELETE", f"/api/v2/workspaces/{workspace_id}")
        except TFCNotFound:
            pass

    # ------------------------------------------------------------ variables
    def upsert_variables(self, workspace_id: str, desired: list[VariableSpec]) -> list[str]:
        """Create or update exactly the given variables; leave every other variable
        alone and rewrite nothing that did not change. Returns the keys written."""
        existing = {
            (v["attributes"]["key"], v["attributes"]["category"]): v
            for v in self._request("GET", f"/api/v2/workspaces/{workspace_id}/vars").json()["data"]
        }
        written = []
        for spec in desired:
            attrs = {"key": spec.key, "value": spec.value, "category": spec.category, "hcl": spec.hcl, "sensitive": spec.sensitive}
            current = existing.get((spec.key, spec.category))
            if current is None:
                self._request("POST", f"/api/v2/workspaces/{workspace_id}/vars", {"data": {"type": "vars", "attributes": attrs}})
                written.append(spec.key)
                continue
            cur = current["attributes"]
            # A sensitive value cannot be read back, so it is rewritten every time.
            unchanged = not spec.sensitive and not cur.get("sensitive") and cur.get("value") == spec.value and cur.get("hcl") == spec.hcl
            if unchanged:
                continue
            patch = {"value": spec.value} if cur.get("sensitive") else attrs
            self._request(
                "PATCH",
                f"/api/v2/workspaces/{workspace_id}/vars/{current['id']}",
                {"data": {"type": "vars", "id": current["id"], "attributes": patch}},
            )
            written.append(spec.key)
        return written

    # ----------------------------------------------------------------- runs
    def start_run(self, workspace_id: str, *, destroy: bool, message: str) -> str:
        body = {
            "data": {
                "type": "runs",
                "attributes": {"is-destroy": destroy, "auto-apply": True, "message": message},
                "relationships": {"workspace": {"data": {"type": "workspaces", "id": workspace_id}}},
            }
        }
        # POST /runs is not idempotent: when its answer is lost (5xx, dropped connection)
        # the run may exist anyway. Look for it (by its message) before posting again,
        # or a retry queues a second run for the same request.
        attempt = 0
        while True:
            try:
                return self._request("POST", "/api/v2/runs", body, retries=0).json()["data"]["id"]
            except TFCUnavailable as exc:
                if attempt >= self.max_retries:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
            log.info("tfc POST /api/v2/runs: answer lost; looking for the run before retrying")
            self._sleep(wait)
            attempt += 1
            for run in self.runs(workspace_id):
                if run["attributes"].get("message") == message:
                    return run["id"]

    def runs(self, workspace_id: str, page_size: int = 20) -> list[dict[str, Any]]:
        """The workspace's most recent runs, newest first."""
        resp = self._request("GET", f"/api/v2/workspaces/{workspace_id}/runs", params={"page[size]": page_size})
        return resp.json()["data"]

    def run(self, run_id: str) -> RunState:
        data = self._request("GET", f"/api/v2/runs/{run_id}").json()["data"]
        return RunState(id=data["id"], status=data["attributes"]["status"])

    # ---------------------------------------------------------------- state
    def outputs(self, workspace_id: str) -> dict[str, Any]:
        """Current state outputs by name (sensitive ones read by id). A 503 while the
        outputs are processed is retried like any 5xx; no state at all gives {}."""
        result: dict[str, Any] = {}
        page = 1
        while True:
            try:
                resp = self._request(
                    "GET",
                    f"/api/v2/workspaces/{workspace_id}/current-state-version-outputs",
                    params={"page[number]": page, "page[size]": 100},
                )
            except TFCNotFound:
                return result
            doc = resp.json()
            for item in doc["data"]:
                attrs = item["attributes"]
                value = attrs.get("value")
                if attrs.get("sensitive"):
                    value = self._request("GET", f"/api/v2/state-version-outputs/{item['id']}").json()["data"]["attributes"]["value"]
                result[attrs["name"]] = value
            next_page = (doc.get("meta") or {}).get("pagination", {}).get("next-page")
            if not next_page or not doc["data"]:
                return result
            page = next_page


def _server_wait(resp: httpx.Response) -> float | None:
    for header in ("Retry-After", "X-RateLimit-Reset"):
        raw = resp.headers.get(header)
        if raw:
            try:
                return max(0.0, float(raw))
            except ValueError:
                continue
    return None


def _detail(resp: httpx.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
    except ValueError:
        return resp.reason_phrase or "no detail"
    if errors and isinstance(errors[0], dict):
        return str(errors[0].get("detail") or errors[0].get("title") or "no detail")
    return "no detail"
