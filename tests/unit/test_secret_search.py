"""Finding many secret values at once: every value that occurs is found, wherever and however
often, overlapping or inside another; nothing else is; and the secrets invariant names each
value and each place once, in the order it did when it looked for one value at a time."""

from __future__ import annotations

from sim.scenarios.invariants import SENSITIVE_VIOLATION, no_secrets, secrets_stay_secret
from sim.scenarios.secret_search import SecretFinder
from sim.scenarios.trace import SnsRecord, Trace


def test_every_value_that_occurs_is_found_and_nothing_else():
    finder = SecretFinder(["pw-abcdefgh", "abcdefgh", "Grüße-geheim", "never-there", ""])
    text = 'row {"admin": "pw-abcdefgh"} log: Grüße-geheim!pw-abcdefgh'
    assert finder.found_in(text) == {"pw-abcdefgh", "abcdefgh", "Grüße-geheim"}
    assert finder.any_in(text) and not finder.any_in("nothing here") and not finder.any_in("")
    assert SecretFinder([]).found_in(text) == set() and not SecretFinder([""]).any_in(text)


def test_the_invariant_names_each_value_and_place_once_in_order():
    places = [("a row", "x s3cr3t-one x"), ("a log line", "s3cr3t-two and s3cr3t-one"), ("a row", "s3cr3t-one again"), ("clean", "-")]
    found = secrets_stay_secret(Trace(start=0.0), ("s3cr3t-one", "s3cr3t-two", "short", "s3cr3t-one"), places)
    assert found == [
        f"{SENSITIVE_VIOLATION} (s3cr...) is recorded in a row",
        f"{SENSITIVE_VIOLATION} (s3cr...) is recorded in a log line",
        f"{SENSITIVE_VIOLATION} (s3cr...) is recorded in a log line",
    ]
    assert secrets_stay_secret(Trace(start=0.0), ("s3cr3t-three",), places) == []


def test_the_trace_invariant_names_each_secret_found_in_the_trace():
    trace = Trace(start=0.0)
    trace.add(1.0, SnsRecord(event="ready", tenant_code="acme", request_id="r1", status="ready", reason="token pw-abcdefgh leaked"))
    found = no_secrets(trace, ("pw-abcdefgh", "abcdefgh", "never-seen", "pw-abc"))
    assert found == ["a secret (pw-a...) appears in the trace", "a secret (abcd...) appears in the trace"]
    assert no_secrets(trace, ("never-seen",)) == [] and no_secrets(Trace(start=0.0), ("pw-abcdefgh",)) == []
