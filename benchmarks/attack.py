"""``python -m benchmarks.attack``: the kinds of attack of the adversarial trial (issue 10),
replayed against the served stack (real HTTP, many threads) and the embedded backend
(simulated time), counting per attack and in total:

* **sent**: requests made (to the REST API, the fake TFC, the AWS endpoint);
* **5xx**: answers 500-599, but for the documented 502 after a moto reset and a 503 that is
  true (the request was rolled back and nothing was provisioned);
* **lost**: requests answered 202 that never reached a terminal status or a DLQ;
* **false**: answers that were not true (a second 202 for one code at once, a 503 for a
  request that was provisioned anyway, a 2xx for input that must be refused, a tenant left
  in progress for good);
* **secrets**: the TFC token or a sensitive value found where it must not be (the journal,
  the log, a trace).

Exit status 1 if any count but ``sent`` is not zero. ``ATTACK_BURST`` sets the burst size
(default 200). Takes a few minutes on two cores.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from fake_tfc.server import free_port
from sim.controlplane.statuses import Action
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.embedded.faults import AwsCallFault, AwsFaultEffect, StartExecutionFault
from sim.engines.embedded.serve import serve
from sim.engines.iam_auth import DEFAULT_PRINCIPAL, HttpxSigV4, httpx_auth
from sim.stack.wiring import Stack


@dataclass
class Tally:
    name: str
    sent: int = 0
    fivexx: int = 0
    lost: int = 0
    false: int = 0
    secrets: int = 0
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answer(self, status: int) -> None:
        with self._lock:
            self.sent += 1
            self.fivexx += 500 <= status <= 599


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - an attack's result
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        pause.wait(0.2)
    return predicate()


def events_of(env: EmbeddedBackend, queue_url: str, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sqs = env.client("sqs")
    while True:
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return seen
        for m in msgs:
            seen.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def subscribe(env: EmbeddedBackend) -> str:
    sqs = env.client("sqs")
    url: str = sqs.create_queue(QueueName="attack-lifecycle")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    env.client("sns").subscribe(TopicArn=env.stack.topic_arn(), Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


# ------------------------------------------------------------------ the served stack
def served_attacks(tallies: list[Tally]) -> None:
    # Simulated time flows slowly enough (a 120 s Wait takes 2 s) that a round of concurrent
    # requests is over before the flow it started can end: a second 202 in a round is then a
    # second flow at once, not the next one.
    env = EmbeddedBackend(EmbeddedConfig(stall_seconds=120)).start()
    notices: list[str] = []
    try:
        with serve(env, aws_port=free_port(), api_port=free_port(), tfc_port=free_port(), notify=notices.append) as ep:
            env.clock.start_pacer(time_scale=60)
            queue = subscribe(env)
            accepted: dict[str, Tally] = {}
            _same_code_creates(ep.api, tallies, accepted)
            _patch_storms(ep.api, tallies, accepted)
            _bad_input(ep.api, tallies)
            _unauthorized(ep.api, tallies)
            _fake_tfc(ep.tfc, env, tallies)
            seen: list[dict[str, Any]] = []
            ended = lambda: {e["request_id"] for e in events_of(env, queue, seen)}  # noqa: E731
            wait_for(lambda: set(accepted) <= ended(), timeout=300)
            done = ended() | {json.loads(m["Body"]).get("detail", {}).get("request_id") for m in env.queue_messages("dlq")}
            for rid, tally in accepted.items():
                tally.lost += rid not in done
            _moto_reset(ep, tallies, notices)
    finally:
        env.stop()


def _tally_burst(tally: Tally, answers: list[Any], accepted: dict[str, Tally]) -> None:
    """Count a burst of simultaneous requests on one tenant: every answer (a client error as
    599), each 202 remembered to be followed to its end, and every 202 beyond one as false."""
    wins = 0
    for a in answers:
        if isinstance(a, Exception):
            tally.answer(599)
            continue
        tally.answer(a.status_code)
        if a.status_code == 202:
            wins += 1
            accepted[a.json()["request_id"]] = tally
    tally.false += max(0, wins - 1)


def _same_code_creates(api: str, tallies: list[Tally], accepted: dict[str, Tally]) -> None:
    tally = Tally("50 simultaneous POST /tenants for one code, 11 rounds (served)")
    tallies.append(tally)
    clients = [httpx.Client(base_url=api, timeout=60, auth=httpx_auth()) for _ in range(50)]
    try:
        for r in range(11):
            body = {"tenant_code": f"same-{r}", "variables": {"tier": "gold"}, "decommission_date": "2099-01-01"}
            _tally_burst(tally, race(50, lambda i: clients[i].post("/tenants", json=body)), accepted)
    finally:
        for c in clients:
            c.close()


def _patch_storms(api: str, tallies: list[Tally], accepted: dict[str, Tally]) -> None:
    tally = Tally("PATCH storms: 20 concurrent PATCHes on a ready tenant, 5 tenants x 4 rounds (served)")
    tallies.append(tally)
    clients = [httpx.Client(base_url=api, timeout=60, auth=httpx_auth()) for _ in range(20)]
    try:
        codes = [f"storm-{i}" for i in range(5)]
        for code in codes:
            r = clients[0].post("/tenants", json={"tenant_code": code, "variables": {}, "decommission_date": "2099-01-01"})
            tally.answer(r.status_code)
            if r.status_code == 202:
                accepted[r.json()["request_id"]] = tally
        for _ in range(4):
            for code in codes:
                wait_for(lambda: clients[0].get(f"/tenants/{code}").json().get("status") in ("ready", "failed"), timeout=60)
                _tally_burst(tally, race(20, lambda i: clients[i].patch(f"/tenants/{code}", json={"variables": {"n": str(i)}})), accepted)
    finally:
        for c in clients:
            c.close()


BAD_BODIES: list[tuple[str, bytes]] = [
    ("lone surrogate in a value", b'{"tenant_code": "sur", "decommission_date": "2099-01-01", "variables": {"k": "\\ud800"}}'),
    ("JSON nested 10,000 deep", b"[" * 10_000 + b"]" * 10_000),
    ("trailing newline in the code", b'{"tenant_code": "abc\\n", "decommission_date": "2099-01-01"}'),
    ("trailing newline in a key", b'{"tenant_code": "keynl", "decommission_date": "2099-01-01", "variables": {"k\\n": "v"}}'),
    ("date 20270101", b'{"tenant_code": "d1", "decommission_date": "20990101"}'),
    ("date 2027-W01-1", b'{"tenant_code": "d2a", "decommission_date": "2099-W01-1"}'),
    ("date in the past", b'{"tenant_code": "d3a", "decommission_date": "2001-01-01"}'),
    ("body of 12 MB", b'{"tenant_code": "big", "decommission_date": "2099-01-01", "pad": "' + b"x" * 12_000_000 + b'"}'),
]
BAD_LIMITS = ["5" * 5000, "²", "٣", "５"]


def _bad_input(api: str, tallies: list[Tally]) -> None:
    tally = Tally("bad input to the REST API (surrogates, nesting, newlines, dates, limits, 12 MB)")
    tallies.append(tally)
    with httpx.Client(base_url=api, timeout=60, auth=httpx_auth()) as http:
        for _, body in BAD_BODIES:
            r = http.post("/tenants", content=body)
            tally.answer(r.status_code)
            tally.false += r.status_code < 400
        for limit in BAD_LIMITS:
            r = http.get("/tenants", params={"limit": limit})
            tally.answer(r.status_code)
            tally.false += r.status_code < 400


def _unauthorized(api: str, tallies: list[Tally]) -> None:
    """Unsigned, wrongly signed and readers' writes: each refused (403) before the function."""
    tally = Tally("unsigned, forged and readers' writes to the REST API (AWS_IAM, served)")
    tallies.append(tally)
    body = {"tenant_code": "intruder", "variables": {}, "decommission_date": "2099-01-01"}
    forged = HttpxSigV4(replace(Stack().principal(DEFAULT_PRINCIPAL), secret_access_key="not-the-secret"), Stack().region)
    attempts = [(None, "POST", "/tenants"), (forged, "POST", "/tenants"), (httpx_auth("reader"), "POST", "/tenants"),
                (httpx_auth("reader"), "DELETE", "/tenants/intruder"), (httpx_auth("reader"), "GET", "/tenants/intruder/secrets")]
    with httpx.Client(base_url=api, timeout=60) as http:
        for auth, method, path in attempts:
            r = http.request(method, path, json=body if method == "POST" else None, auth=auth or httpx.USE_CLIENT_DEFAULT)
            tally.answer(r.status_code)
            tally.false += r.status_code != 403
        tally.false += http.get("/tenants/intruder", auth=httpx_auth()).status_code != 404  # nothing was created


def _fake_tfc(tfc: str, env: EmbeddedBackend, tallies: list[Tally]) -> None:
    tally = Tally("the fake TFC: admin API bounds, journal, names, wrong tokens")
    tallies.append(tally)
    token = env.config.tfc_token
    with httpx.Client(base_url=tfc, timeout=30) as http:
        for body in (b'{"latency": Infinity}', b'{"status": 429, "retry_after": 1e300}', b"[" * 100_000 + b"]" * 100_000):
            r = http.post("/_fake/faults", content=body)
            tally.answer(r.status_code)
            tally.false += r.status_code < 400
        org = env.stack.tfc_organization
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"}
        r = http.post(f"/api/v2/organizations/{org}/workspaces", headers=auth, json={"data": {"type": "workspaces", "attributes": {"name": "evil\n"}}})
        tally.answer(r.status_code)
        tally.false += r.status_code < 400
        r = http.get("/api/v2/ping", params={"token": token})
        tally.answer(r.status_code)
        journal = http.get("/_fake/journal")
        tally.answer(journal.status_code)
        tally.secrets += token in journal.text
        for i in range(40):
            tally.answer(http.get("/api/v2/ping", headers={"Authorization": f"Bearer guess-{i}"}).status_code)
        tally.notes.append("wrong tokens are limited only when the fake's rate limit is on (python -m fake_tfc, sim up --tfc-rate-limit)")


def _moto_reset(ep: Any, tallies: list[Tally], notices: list[str]) -> None:
    tally = Tally("POST /moto-api/reset on the AWS endpoint, then the REST API (served)")
    tallies.append(tally)
    with httpx.Client(timeout=30) as http:
        tally.answer(http.post(f"{ep.aws}/moto-api/reset").status_code)
        r = http.get(f"{ep.api}/tenants", auth=httpx_auth())
        tally.sent += 1  # a 502 JSON is the documented answer here, not counted as a 5xx defect
        ok = r.status_code == 502 and r.headers.get("content-type", "").startswith("application/json")
        tally.false += not ok or not notices
        tally.notes.append(f"answer after the reset: {r.status_code} {r.text[:40]!r}; announced: {bool(notices)}")


# ------------------------------------------------------------------ embedded, simulated time
def _create(env: EmbeddedBackend, tally: Tally, code: str, **extra: Any) -> Any:
    resp = env.api("POST", "/tenants", {"tenant_code": code, "variables": {"tier": "gold"}, "decommission_date": "2099-01-01", **extra})
    tally.answer(resp.status)
    return resp


def put_events_lost(tallies: list[Tally]) -> None:
    for seconds in (5.0, 0.0):
        _put_events_lost(tallies, seconds)


def _put_events_lost(tallies: list[Tally], seconds: float) -> None:
    tally = Tally(f"PutEvents takes effect, its answer lost, {seconds:g} s passing during the resends: 50 creates")
    tallies.append(tally)
    with EmbeddedBackend(EmbeddedConfig(stall_seconds=120)) as env:
        answers: dict[str, int] = {}
        rids: dict[str, str] = {}
        for i in range(50):
            env.faults.aws_calls.append(AwsCallFault("events", "PutEvents", AwsFaultEffect.LOST, times=3, latency=seconds / 3))
            r = _create(env, tally, f"lost-{i:02d}")
            answers[f"lost-{i:02d}"] = r.status
            if r.status == 202:
                rids[f"lost-{i:02d}"] = r.body["request_id"]
        env.run_until(lambda: False, max_seconds=3 * 3600)
        org = env.stack.tfc_organization
        for code, status in answers.items():
            provisioned = env.fake.workspace_id_by_name(org, f"tenant-{code}") is not None
            row = env.status(code)
            if status == 503:
                # A 503 that tells the truth (nothing changed, nothing provisioned) is the
                # API's documented answer, not a server error; a 503 with a workspace behind it is a false one.
                tally.fivexx -= 1
                tally.false += provisioned or row is not None
            elif status == 202:
                tally.lost += row not in ("ready", "failed")
        provisioned = sum(env.fake.workspace_id_by_name(org, f"tenant-{c}") is not None for c in answers)
        tally.notes.append(
            f"{sum(s == 202 for s in answers.values())} answered 202, {sum(s == 503 for s in answers.values())} answered 503; "
            f"{provisioned} workspaces exist"
        )


def retry_after_a_day(tallies: list[Tally]) -> None:
    tally = Tally("TFC answers 429 with Retry-After of a day (the most the fake allows): 5 tenants")
    tallies.append(tally)
    from fake_tfc import FaultRule

    with EmbeddedBackend(EmbeddedConfig(stall_seconds=120)) as env:
        env.fake.faults.add(FaultRule(path="*", status=429, retry_after=86400, count=10))
        for i in range(5):
            _create(env, tally, f"later-{i}")
        env.run_until(lambda: False, max_seconds=3600)
        tally.lost += sum(env.status(f"later-{i}") not in ("ready", "failed") for i in range(5))


def rate_limited_burst(tallies: list[Tally], n: int) -> None:
    tally = Tally(f"{n} creates at once with TFC's 30 requests/s limit on")
    tallies.append(tally)
    with EmbeddedBackend(EmbeddedConfig(tfc_rate_limit=True, stall_seconds=120)) as env:
        for i in range(n):
            _create(env, tally, f"burst-{i:04d}")
        started = time.perf_counter()
        env.run_until(lambda: sum(1 for inv in env.invocations if inv.function.endswith("-finalize")) >= n, max_seconds=6 * 3600)
        failed = sum(env.status(f"burst-{i:04d}") != "ready" for i in range(n))
        tally.false += failed
        journal = env.fake.journal.entries()
        tally.notes.append(
            f"{n - failed}/{n} ready in {time.perf_counter() - started:.1f} s real; {len(journal)} TFC calls, "
            f"{sum(e.status == 429 for e in journal)} answered 429"
        )


def malformed_row_and_operators(tallies: list[Tally]) -> None:
    tally = Tally("a malformed row; a dead-lettered request; an abandoned run (operators' tools)")
    tallies.append(tally)
    from fake_tfc import RunBehaviour, RunScript

    config = EmbeddedConfig(stall_seconds=120)
    with EmbeddedBackend(config, Stack(tfc_organization=config.tfc_organization, retry_attempts=2, max_event_age=3600, poll_budget=4)) as env:
        env.fake.set_script(RunScript(match="tenant-stuck", runs=[RunBehaviour(stuck_in="applying")]))
        due = _create(env, tally, "due", decommission_date="2026-01-01")
        env.client("dynamodb").put_item(
            TableName=env.stack.table, Item={"tenant_code": {"S": "zulu"}, "status": {"S": "archived"}, "decommission_date": {"S": "2000-01-01"}}
        )
        listed = env.api("GET", "/tenants")
        tally.answer(listed.status)
        env.faults.start_execution.append(StartExecutionFault(env.stack.flow(Action.CREATE).state_machine, times=-1))
        dead = _create(env, tally, "dead")
        env.run_until(lambda: False, max_seconds=600)
        env.faults.clear()
        stuck = _create(env, tally, "stuck")
        env.run_until(lambda: False, max_seconds=2 * 86400)
        later = env.api("PATCH", "/tenants/stuck", {"variables": {"tier": "silver"}})
        tally.answer(later.status)
        env.run_until(lambda: env.status("stuck") == "ready", max_seconds=3600)
        tally.false += env.status("due") != "deleted"  # decommissioned despite the bad row
        tally.lost += sum(env.status(c) not in ("ready", "failed", "deleted") for c in ("due", "dead", "stuck"))
        tally.false += env.status("stuck") != "ready"
        tally.notes.append(f"listing with the bad row: {listed.status}; dead-lettered request ended {env.status('dead')}; {due.status}/{dead.status}/{stuck.status}")


def files(tallies: list[Tally]) -> None:
    tally = Tally("crafted files: a YAML of nested aliases, crafted traces for sim replay")
    tallies.append(tally)
    import argparse
    import tempfile

    from sim.commands.replay import run as replay
    from sim.commands.run import run as run_files

    laughs = "\n".join(
        ["name: laughs", "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
        + ["steps: [{get: acme}]"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "laughs.yaml")
        with open(path, "w") as f:
            f.write(laughs)
        quiet = io.StringIO()
        old = sys.stdout
        sys.stdout = quiet
        try:
            tally.sent += 1
            tally.false += run_files(argparse.Namespace(files=[path], seed=None, trace=None, backend="embedded")) != 2
            for content in ("not json\n", '{"kind": "header", "version": 1}\n', json.dumps({"kind": "header", "version": 1, "text": laughs, "seed": 0, "scenario": "x"})):
                trace = os.path.join(tmp, "t.jsonl")
                with open(trace, "w") as f:
                    f.write(content)
                tally.sent += 1
                tally.false += replay(argparse.Namespace(trace=trace)) != 2
        finally:
            sys.stdout = old
        tally.fivexx += "Traceback" in quiet.getvalue()


def main() -> int:
    random.seed(0)
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    # httpx logs every request's URL at INFO: the attacker's own requests (one sends the token
    # in the query string on purpose) would show in the log. The control plane's TFC client
    # sends the token in a header only, which httpx never logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    tallies: list[Tally] = []
    t0 = time.perf_counter()
    served_attacks(tallies)
    put_events_lost(tallies)
    retry_after_a_day(tallies)
    rate_limited_burst(tallies, int(os.environ.get("ATTACK_BURST", "200")))
    malformed_row_and_operators(tallies)
    files(tallies)
    logging.getLogger().removeHandler(handler)
    from sim.engines.embedded.environment import DEFAULT_TOKEN

    logged = log.getvalue()
    leak = Tally("secrets in the log of the whole run (the TFC token, sensitive outputs)")
    leak.secrets += DEFAULT_TOKEN in logged or "pw-" in logged
    tallies.append(leak)
    width = max(len(t.name) for t in tallies)
    print(f"{'attack':<{width}}  {'sent':>6} {'5xx':>5} {'lost':>5} {'false':>6} {'secrets':>8}")
    for t in tallies:
        print(f"{t.name:<{width}}  {t.sent:>6} {t.fivexx:>5} {t.lost:>5} {t.false:>6} {t.secrets:>8}")
        for note in t.notes:
            print(f"    {note}")
    total = Tally("total")
    for t in tallies:
        total.sent += t.sent
        total.fivexx += t.fivexx
        total.lost += t.lost
        total.false += t.false
        total.secrets += t.secrets
    print(f"{'total':<{width}}  {total.sent:>6} {total.fivexx:>5} {total.lost:>5} {total.false:>6} {total.secrets:>8}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 1 if (total.fivexx or total.lost or total.false or total.secrets) else 0


if __name__ == "__main__":
    sys.exit(main())
