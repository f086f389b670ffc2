"""A scenario's ``expect`` compared with what a run showed: one :class:`Check` per thing
compared, naming the field (``tenants.acme.status``), passed or not; a failed one reads
``tenants.acme.status: expected ready, got failed``."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from sim.controlplane.statuses import Action

from .model import Scenario, alarm_name
from .observe import Observed


#: Output names whose values are never printed (``admin_password``...).
SENSITIVE_KEY = re.compile(r"password|secret|token|credential|private", re.I)


@dataclass(frozen=True)
class Check:
    """One thing a run was judged on: ``field`` names it, ``expected`` and ``got`` say
    what was compared, ``message`` is the line a failure prints."""

    field: str
    expected: str
    got: str
    passed: bool
    message: str


def _check(field: str, expected: object, got: object, passed: bool, message: str | None = None) -> Check:
    text_expected, text_got = str(expected), str(got)
    return Check(field, text_expected, text_got, passed, message or f"{field}: expected {text_expected}, got {text_got}")


def expectation_failures(sc: Scenario, obs: Observed) -> list[str]:
    return [c.message for c in expectation_checks(sc, obs) if not c.passed]


def expectation_checks(sc: Scenario, obs: Observed) -> list[Check]:
    out: list[Check] = []
    for code, exp in sc.expect.tenants.items():
        seen = obs.transitions.get(code, [])
        final = seen[-1] if seen else None
        if exp.status is not None:
            out.append(_check(f"tenants.{code}.status", exp.status.value, final, final == exp.status.value))
        if exp.transitions is not None:
            wanted = " -> ".join(s.value for s in exp.transitions)
            got = " -> ".join(map(str, seen)) or "(none)"
            out.append(_check(f"tenants.{code}.transitions", wanted, got, seen == [s.value for s in exp.transitions]))
        row = obs.rows.get(code) or {}
        if exp.last_error_contains is not None:
            error = row.get("last_error")
            out.append(
                _check(
                    f"tenants.{code}.last_error", f"to contain {exp.last_error_contains!r}", repr(error),
                    exp.last_error_contains in (error or ""),
                )
            )
        if exp.outputs is not None:
            outputs = row.get("outputs") or {}
            for k, v in exp.outputs.items():
                value = outputs.get(k)
                shown = repr(value) if not SENSITIVE_KEY.search(k) else "a value not shown (sensitive)" if value is not None else "None"
                out.append(_check(f"tenants.{code}.outputs.{k}", repr(v), shown, value == v))
        if exp.workspace_exists is not None:
            exists = obs.workspaces.get(code)
            out.append(_check(f"tenants.{code}.workspace_exists", exp.workspace_exists, exists, exists == exp.workspace_exists))
    if sc.expect.events is not None:
        wanted_events: dict[str, list[str]] = defaultdict(list)
        for e in sc.expect.events:
            wanted_events[e.tenant].append(e.event)
        if not sc.expect.events:  # "events: []" means none at all
            wanted_events = defaultdict(list, {code: [] for code in obs.events})
        for code, events in wanted_events.items():
            got_events = obs.events.get(code, [])
            out.append(_check(f"events.{code}", events, got_events, got_events == events))
    if sc.expect.dlq is not None:
        dead = [{"error_code": d.error_code, "exhausted": d.exhausted, "retry_attempts": d.retry_attempts, "action": d.action} for d in obs.dlq]
        count_ok = len(dead) == len(sc.expect.dlq)
        out.append(
            _check(
                "dlq", f"{len(sc.expect.dlq)} message(s)", f"{len(dead)}", count_ok,
                None if count_ok else f"dlq: expected {len(sc.expect.dlq)} message(s), got {len(dead)}: {dead}",
            )
        )
        for i, (wanted_dlq, g) in enumerate(zip(sc.expect.dlq, dead)):
            for key in ("error_code", "exhausted", "retry_attempts", "action"):
                want = getattr(wanted_dlq, key)
                want = want.value if isinstance(want, Action) else want
                if want is not None:
                    out.append(_check(f"dlq[{i}].{key}", repr(want), repr(g[key]), g[key] == want))
    if sc.expect.flow_dlq is not None:
        out.append(
            _check("flow_dlq", f"{sc.expect.flow_dlq} message(s)", obs.flow_dlq, obs.flow_dlq == sc.expect.flow_dlq)
        )
    if sc.expect.tfc_variables is not None:
        for code, wanted_vars in sc.expect.tfc_variables.items():
            held = obs.tfc_variables.get(code, {})
            for key, value in wanted_vars.items():
                out.append(_check(f"tfc_variables.{code}.{key}", repr(value), repr(held.get(key)), held.get(key) == value))
    for key, wanted_alarm in (sc.expect.alarms or {}).items():
        name = alarm_name(key)
        changes = obs.alarms.get(name, [])
        # No change after settling: the alarm stayed OK (every scenario runs past one period).
        final_state = changes[-1] if changes else "OK"
        if wanted_alarm.state is not None:
            out.append(_check(f"alarms.{key}.state", wanted_alarm.state, final_state, final_state == wanted_alarm.state))
        if wanted_alarm.states is not None:
            out.append(
                _check(f"alarms.{key}.states", " -> ".join(wanted_alarm.states) or "(none)", " -> ".join(changes) or "(none)", changes == wanted_alarm.states)
            )
    if sc.expect.tfc_runs is not None:
        for code, n in sc.expect.tfc_runs.items():
            runs = obs.tfc_runs.get(code, 0)
            out.append(_check(f"tfc_runs.{code}", n, runs, runs == n))
    return out
