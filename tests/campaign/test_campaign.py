"""Seed campaigns: every scenario with every seed, on every core, split into shards whose
ledgers merge into exactly what one unsharded run writes; failures come back as regression
scenarios that fail on their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.__main__ import main
from sim.campaign.ledger import LedgerEntry, LedgerError, merge, read_ledger, write_ledger
from sim.campaign.plan import PlanError, Shard, parse_seeds, parse_shard, plan
from sim.campaign.work import WorkItem
from sim.scenarios.runner import run_file

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scenarios" / "library"
QUICK = [str(ROOT / "scenarios/library/check-lambda-throttled.yaml"), str(ROOT / "scenarios/library/destroy-of-nothing.yaml")]


def test_shards_cover_the_work_exactly_once():
    items = plan([Path("a.yaml"), Path("b.yaml"), Path("c.yaml")], parse_seeds("0:7"))
    shards = [Shard(i, 4).select(items) for i in range(4)]
    assert sorted(x for s in shards for x in s) == sorted(items)
    assert len({x for s in shards for x in s}) == len(items) == 21


def test_the_first_seeds_of_every_file_come_first():
    items = plan([Path("a.yaml"), Path("b.yaml")], [0, 1])
    assert items == [WorkItem("a.yaml", 0), WorkItem("b.yaml", 0), WorkItem("a.yaml", 1), WorkItem("b.yaml", 1)]


def test_a_shard_comes_from_the_flag_or_from_a_kubernetes_indexed_job():
    assert parse_shard("2/4", environ={}) == Shard(1, 4)
    assert parse_shard(None, 4, environ={"JOB_COMPLETION_INDEX": "3"}) == Shard(3, 4)
    assert parse_shard(None, None, environ={}) == Shard(0, 1)
    for bad, shards, env in (("5/4", None, {}), ("x", None, {}), (None, None, {"JOB_COMPLETION_INDEX": "1"}), (None, 3, {})):
        with pytest.raises(PlanError):
            parse_shard(bad, shards, environ=env)


def test_seeds_are_a_range_a_list_or_a_count():
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("5:8") == [5, 6, 7] and parse_seeds("9,1,1") == [1, 9]
    for bad in ("", "a:b", "4:4", "-1,2"):
        with pytest.raises(PlanError, match="--seeds"):
            parse_seeds(bad)


def test_merging_ledgers_that_disagree_marks_the_seed_nondeterministic():
    a = LedgerEntry("x.yaml", 1, "pass", "aa", 10, 1.0)
    b = LedgerEntry("x.yaml", 1, "pass", "bb", 10, 2.0)
    [merged] = merge([[a], [b]])
    assert merged.verdict == "fail" and merged.nondeterministic and "differs" in merged.problems[-1]
    assert merge([[a], [LedgerEntry("x.yaml", 1, "pass", "aa", 10, 9.0)]]) == [a]  # durations may differ


def test_a_bad_ledger_line_is_named(tmp_path):
    bad = tmp_path / "l.jsonl"
    bad.write_text('{"scenario": "x", "seed": 1, "verdict": "maybe"}\n')
    with pytest.raises(LedgerError, match="l.jsonl:1"):
        read_ledger(bad)


def test_sharded_runs_merge_into_the_unsharded_ledger(tmp_path, capsys):
    common = ["--seeds", "2", "--jobs", "2", "--verify", "1", "--failures", str(tmp_path / "fail")]
    assert main(["campaign", *QUICK, *common, "--ledger", str(tmp_path / "all.jsonl")]) == 0
    for k in (1, 2):
        assert main(["campaign", *QUICK, *common, "--shard", f"{k}/2", "--ledger", str(tmp_path / f"s{k}.jsonl")]) == 0
    assert main(["campaign", "merge", str(tmp_path / "s1.jsonl"), str(tmp_path / "s2.jsonl"), "--ledger", str(tmp_path / "merged.jsonl")]) == 0
    whole = [e.comparable() for e in read_ledger(tmp_path / "all.jsonl")]
    merged = [e.comparable() for e in read_ledger(tmp_path / "merged.jsonl")]
    assert merged == whole and len(whole) == 4
    assert all(e.verdict == "pass" and len(e.trace_hash) == 64 for e in read_ledger(tmp_path / "merged.jsonl"))
    out = capsys.readouterr().out
    assert "1 seeds re-run, 0 diverged" in out and "fault:lambda" in out  # determinism checked, coverage reported


def test_a_failure_is_written_as_a_regression_that_fails_on_its_own(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "scenarios/library/destroy-of-nothing.yaml").read_text()
    broken.write_text(text.replace("status: deleted", "status: ready", 1))
    assert broken.read_text() != text
    code = main(["campaign", str(broken), "--seeds", "4:5", "--jobs", "1", "--verify", "0",
                 "--ledger", str(tmp_path / "l.jsonl"), "--failures", str(tmp_path / "fail")])
    assert code == 1
    [entry] = read_ledger(tmp_path / "l.jsonl")
    assert entry.verdict == "fail" and entry.seed == 4 and "expected ready" in entry.problems[0]
    regression = tmp_path / "fail" / "broken-seed4.yaml"
    assert (tmp_path / "fail" / "broken-seed4.jsonl").read_text().startswith('{"kind":"header"')
    again = run_file(regression)
    assert again.seed == 4 and not again.passed


def test_the_budget_stops_new_runs_and_says_what_was_left(tmp_path, capsys, monkeypatch):
    # One process, two runs in flight at once; the first answer comes after the 1 s budget
    # (the pool's clock is driven: each answer waited for takes 1.5 s), so the last two never start.
    import types

    from sim.campaign import pool

    now = [0.0]
    real_wait = pool.wait

    def wait_taking_time(*args, **kwargs):
        answer = real_wait(*args, **kwargs)
        now[0] += 1.5
        return answer

    monkeypatch.setattr(pool, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(pool, "wait", wait_taking_time)
    assert main(["campaign", QUICK[0], "--seeds", "4", "--jobs", "1", "--budget", "1s", "--verify", "0", "--ledger", str(tmp_path / "l.jsonl")]) == 0
    assert "2 passed, 0 failed, 0 errors; 2 not run (budget)" in capsys.readouterr().out
    assert [e.seed for e in read_ledger(tmp_path / "l.jsonl")] == [0, 1]


def test_bad_input_exits_2_naming_the_option(tmp_path, capsys):
    assert main(["campaign", str(tmp_path / "missing.yaml")]) == 2
    assert main(["campaign", QUICK[0], "--shard", "3/2"]) == 2
    assert main(["campaign", "merge"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "--shard" in err and "merge" in err


def test_write_and_read_a_ledger_round_trip(tmp_path):
    entries = [LedgerEntry("b.yaml", 2, "fail", "h", 3, 0.5, ["why"]), LedgerEntry("a.yaml", 9, "pass", "g", 1, 0.1)]
    write_ledger(tmp_path / "l.jsonl", entries)
    assert read_ledger(tmp_path / "l.jsonl") == sorted(entries, key=lambda e: e.key)


def test_the_property_machine_is_campaign_work_with_its_coverage(tmp_path, capsys):
    """``sim campaign property`` runs the lifecycle machine per seed on the pool, beside
    scenario files: it has a ledger entry (no trace hash: its bursts race real threads, so it
    is not re-run for determinism) and reports what it reached."""
    ledger = tmp_path / "ledger.jsonl"
    code = main(["campaign", "property", str(LIBRARY / "destroy-of-nothing.yaml"), "--seeds", "1", "--jobs", "2", "--verify", "2", "--ledger", str(ledger)])
    out = capsys.readouterr().out
    assert code == 0, out
    entries = {e.scenario: e for e in read_ledger(ledger)}
    machine = entries["property:lifecycle-machine"]
    assert machine.verdict == "pass" and machine.trace_hash == ""
    assert "property:examples" in out and "property:concurrent bursts" in out
    assert "determinism: 1 seeds re-run" in out  # the scenario only


def test_a_failing_machine_run_gives_its_regression_scenario(monkeypatch):
    """With a broken control plane (Finalize publishes no lifecycle event) the machine's
    campaign work fails and carries the failing program as a scenario."""
    from sim.campaign.machine import run_machine
    from sim.controlplane import handlers, steps

    real = steps.finalize

    def forgetful(deps, payload):
        deps.settings = deps.settings.__class__(**{**deps.settings.__dict__, "topic_arn": ""})
        return real(deps, payload)

    monkeypatch.setattr(handlers, "finalize", forgetful)
    entry, reached, regression = run_machine(3, examples=3, shrink=False)
    assert entry.verdict == "fail" and entry.problems, entry
    assert regression is not None and "lifecycle-machine-regression" in regression
    assert reached["property:examples"] >= 1
