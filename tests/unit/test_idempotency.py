"""The idempotency key module (``sim.controlplane.idempotency``) on its own, against the
embedded backend's DynamoDB: the header's validation, the request fingerprint, and the key
table's records (taken at most once, answered, released, expired, abandoned).

Semantics: IETF HTTPAPI draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header): a key names one request; the same key with the
same request is answered once; a different request under the key is 422, a concurrent one
409, a malformed key 400."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sim.controlplane.api import ApiDeps, handle
from sim.controlplane.config import ControlPlaneSettings
from sim.controlplane.errors import IdempotencyKeyReused, IdempotentRequestInProgress, InvalidIdempotencyKey
from sim.controlplane.idempotency import (
    HEADER,
    KEY_TTL_SECONDS,
    LEASE_SECONDS,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    IdempotencyStore,
    fingerprint,
    key_of,
    once,
    validate_key,
)
from sim.controlplane.secrets import TenantSecrets
from sim.controlplane.statuses import Action
from sim.controlplane.tenants import TenantStore
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig, EmbeddedPlatform
from sim.engines.embedded.faults import AwsCallFault, AwsFaultEffect
from sim.engines.gateway import proxy_event

HOUR = 3600


# ------------------------------------------------------------------ the header
@pytest.mark.parametrize(
    "value, why",
    [
        ("", "must not be empty"),
        ("  \t ", "must not be empty"),
        ("k" * (MAX_KEY_LENGTH + 1), f"at most {MAX_KEY_LENGTH}"),
        ("ab\x00cd", "printable ASCII"),
        ("ab\ncd", "printable ASCII"),
        ("\x7f", "printable ASCII"),
        ("clé", "printable ASCII"),
        (42, "must be a string"),
    ],
    ids=["empty", "blank", "too-long", "nul", "newline", "del", "non-ascii", "not-a-string"],
)
def test_a_malformed_key_is_refused_naming_the_header(value: Any, why: str) -> None:
    with pytest.raises(InvalidIdempotencyKey) as err:
        validate_key(value)
    assert err.value.status == 400 and err.value.field == HEADER
    assert why in err.value.message


@pytest.mark.parametrize(
    "value, key",
    [
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"8e03978e"', '"8e03978e"'),  # the draft's structured-field string: the quotes are part of it
        ("  spaced key  ", "spaced key"),
        ("k" * MAX_KEY_LENGTH, "k" * MAX_KEY_LENGTH),
    ],
)
def test_a_well_formed_key_is_taken_as_sent(value: str, key: str) -> None:
    assert validate_key(value) == key


def test_the_header_name_is_case_insensitive_in_headers_and_multi_value_headers() -> None:
    assert key_of({"headers": {"idempotency-key": "a"}}) == "a"
    assert key_of({"headers": {"IDEMPOTENCY-KEY": "a"}}) == "a"
    assert key_of({"headers": {"Content-Type": "x"}, "multiValueHeaders": {"Idempotency-key": ["b"]}}) == "b"
    assert key_of({"headers": {"Content-Type": "x"}}) is None
    assert key_of({"headers": None, "multiValueHeaders": None}) is None


def test_a_key_sent_twice_with_different_values_is_refused_the_same_twice_is_one_key() -> None:
    with pytest.raises(InvalidIdempotencyKey):
        key_of({"headers": {"Idempotency-Key": "b"}, "multiValueHeaders": {"Idempotency-Key": ["a", "b"]}})
    with pytest.raises(InvalidIdempotencyKey):
        key_of({"headers": {"idempotency-key": "a", "Idempotency-Key": "b"}})
    assert key_of({"multiValueHeaders": {"Idempotency-Key": ["a", "a"]}}) == "a"


def test_the_fingerprint_ignores_key_order_and_blanks_but_not_method_path_or_values() -> None:
    body = {"tenant_code": "acme", "variables": {"a": "1", "b": "2"}}
    same = json.loads('{ "variables": {"b": "2", "a": "1"},  "tenant_code": "acme" }')
    assert fingerprint("POST", "/tenants", body) == fingerprint("post", "/tenants", same)
    assert fingerprint("POST", "/tenants", body) != fingerprint("PATCH", "/tenants", body)
    assert fingerprint("PATCH", "/tenants/acme", None) != fingerprint("PATCH", "/tenants/acmf", None)
    assert fingerprint("POST", "/tenants", body) != fingerprint("POST", "/tenants", {**body, "variables": {"a": "1", "b": "3"}})
    assert fingerprint("POST", "/tenants", {"n": 1}) != fingerprint("POST", "/tenants", {"n": "1"})


# ------------------------------------------------------------------ the key table
@pytest.fixture
def env() -> Iterator[EmbeddedBackend]:
    with EmbeddedBackend(EmbeddedConfig(ttl_sweep_seconds=HOUR)) as backend:
        yield backend


def _store(env: EmbeddedBackend, client: Any = None) -> IdempotencyStore:
    return IdempotencyStore(client or env.client("dynamodb"), env.stack.idempotency_table, now=env.clock.now)


def _items(env: EmbeddedBackend) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = env.client("dynamodb").scan(TableName=env.stack.idempotency_table)["Items"]
    return items


def test_the_stack_declares_the_key_table_with_time_to_live_on_expires_at(env):
    ddb = env.client("dynamodb")
    ttl = ddb.describe_time_to_live(TableName=env.stack.idempotency_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert env.stack.environment()["IDEMPOTENCY_TABLE"] == env.stack.idempotency_table
    assert ControlPlaneSettings.from_env(env.stack.environment()).idempotency_table == env.stack.idempotency_table


def test_the_lease_outlasts_the_api_functions_timeout(env):
    [api] = [f for f in env.stack.functions if f.name == "api"]
    assert api.timeout < LEASE_SECONDS, "a live request's key could be taken over while it still runs"


def test_a_key_is_taken_once_then_found_with_its_request(env):
    store = _store(env)
    first, mine = store.begin("k", "fp", "POST", "/tenants")
    assert mine
    found, mine = store.begin("k", "fp2", "POST", "/tenants")
    assert not mine and found == first and found.fingerprint == "fp" and not found.answered
    assert first.expires_at == int(env.clock.now()) + KEY_TTL_SECONDS


def test_a_completed_key_holds_its_answer(env):
    store = _store(env)
    rec, _ = store.begin("k", "fp", "POST", "/tenants")
    store.complete(rec, 202, '{"status": "creating"}')
    found = store.get("k")
    assert found is not None and found.answered
    assert found.replay() == {
        "statusCode": 202, "headers": {"Content-Type": "application/json", REPLAYED_HEADER: "true"}, "body": '{"status": "creating"}',
    }


def test_a_released_key_can_be_taken_again(env):
    store = _store(env)
    rec, _ = store.begin("k", "fp", "POST", "/tenants")
    store.release(rec)
    assert store.get("k") is None and _items(env) == []
    again, mine = store.begin("k", "other", "PATCH", "/tenants/acme")
    assert mine and again.fingerprint == "other"


def test_an_expired_record_still_stored_is_absent_and_the_ttl_sweep_deletes_it(env):
    """Real DynamoDB deletes expired items lazily (within days) and returns them until
    then, so the store itself treats a past ``expires_at`` as absent."""
    store = _store(env)
    rec, _ = store.begin("k", "fp", "POST", "/tenants")
    store.complete(rec, 202, "{}")
    env.advance(KEY_TTL_SECONDS + 1)
    assert len(_items(env)) == 1, "swept already: this test would not test the lazy case"
    assert store.get("k") is None
    new, mine = store.begin("k", "fp", "POST", "/tenants")
    assert mine and not new.answered and new.owner != rec.owner
    env.advance(KEY_TTL_SECONDS + 2 * HOUR)
    assert _items(env) == [], "the TTL sweep did not delete the expired record"


def test_an_unanswered_record_blocks_its_key_until_its_lease_ends(env):
    store = _store(env)
    dead, _ = store.begin("k", "fp", "POST", "/tenants")
    env.advance(LEASE_SECONDS - 1)
    assert store.begin("k", "fp", "POST", "/tenants")[1] is False
    env.advance(2)
    taker, mine = store.begin("k", "fp", "POST", "/tenants")
    assert mine and taker.owner != dead.owner
    # The request that lost its lease comes back: it may neither answer nor free the key.
    store.complete(dead, 202, "{}")
    store.release(dead)
    found = store.get("k")
    assert found is not None and found.owner == taker.owner and not found.answered


def test_an_answered_record_is_never_taken_over_within_its_window(env):
    store = _store(env)
    rec, _ = store.begin("k", "fp", "POST", "/tenants")
    store.complete(rec, 202, "{}")
    env.advance(KEY_TTL_SECONDS - 1)
    assert store.begin("k", "fp", "POST", "/tenants") == (store.get("k"), False)


def test_a_lost_answer_to_the_write_that_took_the_key_is_read_back_as_taken(env):
    platform = EmbeddedPlatform(env, {})
    env.faults.aws_calls.append(AwsCallFault(service="dynamodb", operation="PutItem", effect=AwsFaultEffect.LOST, times=1))
    rec, mine = _store(env, platform.client("dynamodb")).begin("k", "fp", "POST", "/tenants")
    assert mine, "the key was taken but its writer, having lost the answer, thinks not"
    assert env.faults.aws_calls[0].fired == 1
    assert _store(env).begin("k", "fp", "POST", "/tenants")[1] is False


# ------------------------------------------------------------------ once()
def test_once_answers_once_then_replays_and_refuses_a_different_request(env):
    store = _store(env)
    calls: list[int] = []

    def answer() -> dict[str, Any]:
        calls.append(1)
        return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": '{"n": 1}'}

    first = once(store, "k", "fp", "POST", "/tenants", answer)
    again = once(store, "k", "fp", "POST", "/tenants", answer)
    assert len(calls) == 1
    assert (again["statusCode"], again["body"]) == (first["statusCode"], first["body"])
    assert again["headers"][REPLAYED_HEADER] == "true" and REPLAYED_HEADER not in first["headers"]
    with pytest.raises(IdempotencyKeyReused) as err:
        once(store, "k", "other", "POST", "/tenants", answer)
    assert err.value.status == 422 and err.value.field == HEADER


def test_once_answers_409_while_the_first_request_is_being_handled(env):
    store = _store(env)
    store.begin("k", "fp", "POST", "/tenants")
    with pytest.raises(IdempotentRequestInProgress) as err:
        once(store, "k", "fp", "POST", "/tenants", lambda: pytest.fail("handled twice"))
    assert err.value.status == 409 and err.value.field == HEADER


@pytest.mark.parametrize("status", [400, 404, 409, 503])
def test_an_error_answer_frees_the_key(env, status):
    store = _store(env)
    resp = once(store, "k", "fp", "POST", "/tenants", lambda: {"statusCode": status, "headers": {}, "body": "{}"})
    assert resp["statusCode"] == status
    assert store.get("k") is None and _items(env) == []


def test_an_exception_frees_the_key_and_propagates(env):
    store = _store(env)

    def boom() -> dict[str, Any]:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        once(store, "k", "fp", "POST", "/tenants", boom)
    assert store.get("k") is None


# ------------------------------------------------------------------ the API without a key table
def test_a_key_is_refused_by_a_deployment_without_a_key_table_and_ignored_on_get(env):
    settings = ControlPlaneSettings(
        table=env.stack.table, buses={f.action: f.bus for f in env.stack.flows}, topic_arn="", tfc_secret_id="",
        tfc_address="", tfc_organization="",
    )
    deps = ApiDeps(
        settings=settings, store=TenantStore(env.client("dynamodb"), env.stack.table), events=env.client("events"),
        secrets=TenantSecrets(env.client("secretsmanager"), settings.tenant_secret_prefix),
    )
    body = {"tenant_code": "acme", "variables": {}, "decommission_date": "2099-01-01"}
    resp = handle(deps, proxy_event("POST", "/tenants", body, headers={HEADER: "k"}))
    assert resp["statusCode"] == 501 and json.loads(resp["body"])["field"] == HEADER
    assert handle(deps, proxy_event("GET", "/tenants/acme", headers={HEADER: ""}))["statusCode"] == 404  # not 400: GET ignores it
    assert handle(deps, proxy_event("POST", "/tenants", body))["statusCode"] == 202
    assert Action.CREATE.in_progress_status.value in handle(deps, proxy_event("GET", "/tenants/acme"))["body"]
