"""DynamoDB TTL on the simulated clock. AWS: an item whose TTL attribute (epoch seconds) is
in the past is deleted in the background, within a few days and with no guarantee when;
until then reads still return it; an item without the attribute, or with a non-number
there, never expires
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig

HOUR = 3600.0


@pytest.fixture
def env() -> Iterator[EmbeddedBackend]:
    with EmbeddedBackend(EmbeddedConfig(ttl_sweep_seconds=HOUR)) as backend:
        ddb = backend.client("dynamodb")
        ddb.create_table(
            TableName="keys", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )
        ddb.update_time_to_live(TableName="keys", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
        yield backend


def _put(env: EmbeddedBackend, key: str, **attrs: dict[str, str]) -> None:
    env.client("dynamodb").put_item(TableName="keys", Item={"k": {"S": key}, **attrs})


def _keys(env: EmbeddedBackend) -> set[str]:
    return {i["k"]["S"] for i in env.client("dynamodb").scan(TableName="keys")["Items"]}


def test_an_expired_item_stays_readable_until_a_sweep_then_is_deleted(env):
    now = env.clock.now()
    _put(env, "soon", expires={"N": str(int(now + 60))})
    _put(env, "later", expires={"N": str(int(now + 3 * HOUR))})
    env.advance(120)
    assert _keys(env) == {"soon", "later"}  # expired, not yet swept: still returned
    env.advance(HOUR)
    assert _keys(env) == {"later"}
    env.advance(3 * HOUR)
    assert _keys(env) == set()


def test_items_without_a_number_in_the_attribute_never_expire(env):
    _put(env, "none")
    _put(env, "text", expires={"S": "0"})
    env.advance(48 * HOUR)
    assert _keys(env) == {"none", "text"}


def test_a_table_without_ttl_is_left_alone(env):
    ddb = env.client("dynamodb")
    ddb.update_time_to_live(TableName="keys", TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires"})
    _put(env, "old", expires={"N": "1"})
    env.advance(48 * HOUR)
    assert _keys(env) == {"old"}
