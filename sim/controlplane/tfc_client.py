"""The control plane's Terraform Cloud client: the few calls it makes, over httpx.

It retries 429 and 5xx answers (and lost connections) with backoff, honouring
``Retry-After`` (then ``X-RateLimit-Reset``), and never puts the token in a log line,
an exception message or a repr (httpx masks the Authorization header in its reprs).

Rate limits: TFC allows 30 requests per second per token ("API Rate Limiting", TFC API
docs) and every Lambda of the control plane shares one token, so a burst of tenants meets
429s by the thousand. Each wait is the server's ``Retry-After`` plus a random share of the
client's exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter":
without jitter every throttled caller comes back in the same instant), and 429s have their
own, larger retry budget (a 429 is refused before TFC acts, so any request may be sent
again), bounded by the time the function has left.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
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
    #: The run's ``actions`` flags (``is-discardable``, ``is-cancelable``, ``is-force-cancelable``).
    actions: dict[str, bool] = field(default_factory=dict)
    #: ``force-cancel-available-at`` (epoch seconds), once a cancel has been requested.
    force_cancel_at: float | None = None

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


@dataclass(frozen=True)
class Output:
    """One state output, with whether TFC marks it sensitive."""

    value: Any
    sensitive: bool = False


class TFCClient:
    def __init__(
        self,
        address: str,
        token: str,
        organization: str,
        *,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 5,
        max_throttled_retries: int = 40,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        throttle_cap: float = 30.0,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        time_left: Callable[[], float | None] = lambda: None,
        rng: random.Random | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.organization = organization
        self.max_retries = max_retries
        self.max_throttled_retries = max_throttled_retries
        #: The jitter's random source; without one every wait is exact (what tests pin).
        self._rng = rng
        self._now = now
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.throttle_cap = throttle_cap
        self.timeout = timeout
        self._sleep = sleep
        #: Seconds the calling function has left (Lambda: the context's remaining time),
        #: or None for no limit. No wait is allowed to outlast it.
        self._time_left = time_left
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
    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        retries: int | None = None,
    ) -> httpx.Response:
        """One call, retried: 5xx answers and lost connections up to ``retries`` times
        (default ``max_retries``; 0 for a request that must not be sent twice blindly),
        429s up to ``max_throttled_retries`` times whatever ``retries`` says."""
        limit = self.max_retries if retries is None else retries
        errors = throttled = 0
        while True:
            try:
                resp = self._http.request(method, path, json=body, params=params)
            except httpx.TransportError as exc:
                if errors >= limit:
                    raise TFCUnavailable(f"{method} {path}: no answer after {errors + throttled + 1} tries ({type(exc).__name__})") from None
                wait, what, status = self._wait(None, errors), f"{method} {path}: no answer", 0
                errors += 1
            else:
                status = resp.status_code
                if status < 400:
                    return resp
                if status not in RETRY_STATUSES or (status == 429 and throttled >= self.max_throttled_retries) or (status != 429 and errors >= limit):
                    raise self._error(method, path, resp, errors + throttled)
                what = f"{method} {path}: HTTP {status}"
                if status == 429:
                    wait = self._wait(_server_wait(resp), throttled, self.throttle_cap)
                    throttled += 1
                else:
                    wait = self._wait(_server_wait(resp), errors)
                    errors += 1
            self._pause(wait, what, status, errors + throttled - 1)

    def _wait(self, server_wait: float | None, attempt: int, cap: float | None = None) -> float:
        """The server's wait plus a random share of the backoff, or a random share of the
        backoff alone ("full jitter"); exact when the client has no random source. 429s
        spread wider (``throttle_cap``): a burst of callers must spread over many seconds
        of a 30-a-second budget."""
        backoff = self._backoff(attempt) if cap is None else min(cap, self.backoff_base * 2.0**attempt)
        if self._rng is None:
            return server_wait if server_wait is not None else backoff
        if server_wait is not None:
            return server_wait + self._rng.uniform(0.0, backoff)
        return self._rng.uniform(0.0, backoff)

    def _pause(self, wait: float, what: str, status: int, attempt: int) -> None:
        """Sleep ``wait`` before the next try, unless the function would run out of time:
        a wait is allowed only while it and one more request (the client's timeout) fit in
        the time left. Otherwise fail now with :class:`TFCUnavailable`, the transient error
        the state machine's Retry waits out (``Retry-After: 1e9`` must not hold a Lambda
        until it is killed, nor a tenant in progress forever)."""
        left = self._time_left()
        if left is not None and wait + self.timeout > left:
            raise TFCUnavailable(
                f"{what} (after {attempt + 1} tries): the next try would be in {wait:g}s and the function has {max(left, 0.0):.0f}s left",
                status,
                wait,
            )
        log.info("%s: retry %d in %.2fs", what, attempt + 1, wait)
        self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        delay: float = self.backoff_base * 2**attempt  # int ** int is Any to mypy
        return min(self.backoff_cap, delay)

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
        return _primary_id(resp)

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
        return _primary_id(resp)

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
            recovered = False
            if current is None:
                try:
                    self._request("POST", f"/api/v2/workspaces/{workspace_id}/vars", {"data": {"type": "vars", "attributes": attrs}})
                    written.append(spec.key)
                    continue
                except TFCInvalid as exc:
                    # POST is not idempotent: when a create's answer was lost and _request
                    # sent it again, the retry meets "Key has already been taken" (TFC keeps
                    # a key unique per category). The variable is there: read it and PATCH.
                    if "already been taken" not in str(exc):
                        raise
                    current = self._variable(workspace_id, spec.key, spec.category)
                    if current is None:
                        raise
                    recovered = True
            cur = current["attributes"]
            # A sensitive value cannot be read back, so it is rewritten every time.
            unchanged = not spec.sensitive and not cur.get("sensitive") and cur.get("value") == spec.value and cur.get("hcl") == spec.hcl
            if unchanged:
                if recovered:  # the lost create wrote it
                    written.append(spec.key)
                continue
            patch = {"value": spec.value} if cur.get("sensitive") else attrs
            self._request(
                "PATCH",
                f"/api/v2/workspaces/{workspace_id}/vars/{current['id']}",
                {"data": {"type": "vars", "id": current["id"], "attributes": patch}},
            )
            written.append(spec.key)
        return written

    def _variable(self, workspace_id: str, key: str, category: str) -> dict[str, Any] | None:
        for v in self._request("GET", f"/api/v2/workspaces/{workspace_id}/vars").json()["data"]:
            if v["attributes"]["key"] == key and v["attributes"]["category"] == category:
                found: dict[str, Any] = v
                return found
        return None

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
                return _primary_id(self._request("POST", "/api/v2/runs", body, retries=0))
            except TFCUnavailable as exc:
                if attempt >= self.max_retries:
                    raise
                wait = self._wait(exc.retry_after, attempt)
                status = exc.status
            log.info("tfc POST /api/v2/runs: answer lost; looking for the run before retrying")
            self._pause(wait, "POST /api/v2/runs", status, attempt)
            attempt += 1
            for run in self.runs(workspace_id):
                if run["attributes"].get("message") == message:
                    run_id: str = run["id"]
                    return run_id

    def runs(self, workspace_id: str, page_size: int = 20) -> list[dict[str, Any]]:
        """The workspace's most recent runs, newest first."""
        resp = self._request("GET", f"/api/v2/workspaces/{workspace_id}/runs", params={"page[size]": page_size})
        runs: list[dict[str, Any]] = resp.json()["data"]
        return runs

    def run(self, run_id: str) -> RunState:
        data = self._request("GET", f"/api/v2/runs/{run_id}").json()["data"]
        attrs = data["attributes"]
        actions = {k: bool(v) for k, v in (attrs.get("actions") or {}).items()}
        return RunState(id=data["id"], status=attrs["status"], actions=actions, force_cancel_at=_epoch(attrs.get("force-cancel-available-at")))

    def _run_action(self, run_id: str, action: str, comment: str) -> None:
        self._request("POST", f"/api/v2/runs/{run_id}/actions/{action}", {"comment": comment})

    def abandon(self, run_id: str, comment: str) -> str:
        """Stop a run the caller gives up on, so that it does not hold the workspace's queue
        (one active run per workspace: every later run waits behind it). TFC's run actions
        ("Runs API"): ``discard`` a run that waits (pending, or paused for confirmation or a
        policy decision), ``cancel`` one that plans or applies, and ``force-cancel`` one that
        ignores the cancel, once ``force-cancel-available-at`` has passed (a wait made only
        if it fits in the time left). Says what was done; never raises for a run that ends
        on its own meanwhile."""
        done: list[str] = []
        for _ in range(4):
            run = self.run(run_id)
            if run.finished:
                return "; ".join(done + [f"run {run_id} {run.status}"]) if done else f"run {run_id} already {run.status}"
            try:
                if run.actions.get("is-discardable"):
                    self._run_action(run_id, "discard", comment)
                    done.append("discarded")
                elif run.actions.get("is-cancelable"):
                    self._run_action(run_id, "cancel", comment)
                    done.append("cancel requested")
                elif run.actions.get("is-force-cancelable"):
                    self._run_action(run_id, "force-cancel", comment)
                    done.append("force-canceled")
                elif run.force_cancel_at is not None:
                    wait = max(0.0, run.force_cancel_at - self._now()) + 0.5
                    try:
                        self._pause(wait, f"force-cancel of run {run_id}", 0, 0)
                    except TFCUnavailable:
                        return "; ".join(done + [f"run {run_id} still {run.status}: force-cancel possible in {wait:.0f}s, later than this function can wait"])
                    continue
                else:
                    return "; ".join(done + [f"run {run_id} still {run.status}: no action TFC allows stops it"])
            except TFCConflict:
                continue  # the run moved on meanwhile ("transition not allowed"): read it again
        run = self.run(run_id)
        return "; ".join(done + [f"run {run_id} {'now ' if run.finished else 'still '}{run.status}"])

    # ---------------------------------------------------------------- state
    def outputs(self, workspace_id: str) -> dict[str, Any]:
        """Current state outputs' values by name (sensitive ones read by id)."""
        return {name: out.value for name, out in self.state_outputs(workspace_id).items()}

    def state_outputs(self, workspace_id: str) -> dict[str, Output]:
        """Current state outputs by name, with their sensitivity (sensitive values read by
        id). A 503 while the outputs are processed is retried like any 5xx; no state at all
        gives {}."""
        result: dict[str, Output] = {}
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
                result[attrs["name"]] = Output(value, bool(attrs.get("sensitive")))
            next_page = (doc.get("meta") or {}).get("pagination", {}).get("next-page")
            if not next_page or not doc["data"]:
                return result
            page = next_page


def _epoch(value: Any) -> float | None:
    """An ISO 8601 time (TFC's ``2026-01-01T00:00:10.000Z``) as epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _primary_id(resp: httpx.Response) -> str:
    """The ``id`` of a JSON:API document's primary resource."""
    rid: str = resp.json()["data"]["id"]
    return rid


def _server_wait(resp: httpx.Response) -> float | None:
    for header in ("Retry-After", "X-RateLimit-Reset"):
        raw = resp.headers.get(header)
        if raw:
            try:
                seconds = float(raw)
            except ValueError:
                continue
            if math.isfinite(seconds):  # "inf" and "nan" parse as floats; they are not waits
                return max(0.0, seconds)
    return None


def _detail(resp: httpx.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
    except ValueError:
        return resp.reason_phrase or "no detail"
    if errors and isinstance(errors[0], dict):
        return str(errors[0].get("detail") or errors[0].get("title") or "no detail")
    return "no detail"
