"""API Gateway's AWS_IAM method authorization as the simulator's API Gateway layer does it
(``sim/engines/iam_auth.py``): the SigV4 signature recomputed with botocore, its date against
an injected wall clock (5 minutes either way), and the stack's resource policy (IAM: an
explicit Deny wins, no Allow denies, ``*`` matches any run of characters)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from sim.engines.iam_auth import (
    BAD_SIGNATURE,
    Caller,
    Decision,
    Denied,
    SignedRequest,
    authorize,
    evaluate,
    sign,
    verify,
)
from sim.stack.wiring import OPERATOR, READER, Principal, Stack

STACK = Stack()
T0 = datetime(2026, 12, 2, 6, 0, 0, tzinfo=timezone.utc)
HOST = "127.0.0.1:8080"
BODY = b'{"tenant_code": "acme", "variables": {}, "decommission_date": "2099-01-01"}'


def wall(at: datetime = T0):
    return lambda: at.timestamp()


def signed(
    method: str = "POST", path: str = "/tenants", query: str = "", body: bytes = BODY, *, who: Principal = OPERATOR,
    at: datetime = T0, headers: dict[str, str] | None = None, region: str = STACK.region,
) -> SignedRequest:
    """A request signed by botocore's SigV4 as a client would send it to the served API."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    return SignedRequest(method, path, query, {**sent, **sign(who, region, method, url, sent, body, at=at)}, body)


def test_a_good_signature_names_its_caller():
    caller = verify(STACK, signed(), wall())
    assert isinstance(caller, Caller)
    assert caller.principal == OPERATOR
    assert caller.arn == "arn:aws:sts::123456789012:assumed-role/tenant-sim-operator/operator"


def test_a_signature_with_a_query_string_passes():
    assert isinstance(verify(STACK, signed("GET", "/tenants", "limit=2&next=abc", b""), wall()), Caller)


def test_no_authorization_header_is_missing_authentication_token():
    req = SignedRequest("GET", "/tenants", "", {"host": HOST}, b"")
    assert verify(STACK, req, wall()) == Denied("Missing Authentication Token", "MissingAuthenticationTokenException")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda r: dataclasses.replace(r, body=r.body.replace(b"acme", b"evil")), id="body"),
        pytest.param(lambda r: dataclasses.replace(r, path="/tenants/acme"), id="path"),
        pytest.param(lambda r: dataclasses.replace(r, method="PATCH"), id="method"),
        pytest.param(lambda r: dataclasses.replace(r, query="limit=3"), id="query"),
        pytest.param(lambda r: dataclasses.replace(r, headers={**r.headers, "Content-Type": "text/plain"}), id="signed-header"),
        pytest.param(lambda r: dataclasses.replace(r, headers={**r.headers, "host": "127.0.0.1:9090"}), id="host"),
        pytest.param(
            lambda r: dataclasses.replace(r, headers={**r.headers, "Authorization": r.headers["Authorization"][:-1] + "0"}), id="signature"
        ),
    ],
)
def test_a_tampered_request_does_not_match_its_signature(tamper):
    req = signed()
    assert isinstance(verify(STACK, req, wall()), Caller)  # untampered, it passes
    assert verify(STACK, tamper(req), wall()) == Denied(BAD_SIGNATURE, "InvalidSignatureException")


def test_a_tampered_body_cannot_ride_on_a_signed_payload_hash_header():
    import hashlib

    req = signed(headers={"x-amz-content-sha256": hashlib.sha256(BODY).hexdigest()})
    assert isinstance(verify(STACK, req, wall()), Caller)
    forged = dataclasses.replace(req, body=b'{"tenant_code": "evil"}')
    assert verify(STACK, forged, wall()) == Denied(BAD_SIGNATURE, "InvalidSignatureException")


def test_a_wrong_secret_does_not_match():
    impostor = Principal("operator", OPERATOR.access_key_id, "not-the-operators-secret")
    assert verify(STACK, signed(who=impostor), wall()) == Denied(BAD_SIGNATURE, "InvalidSignatureException")


def test_an_unknown_access_key_is_an_invalid_security_token():
    stranger = Principal("stranger", "AKIASTRANGEREXAMPLE1", "whatever")
    denied = verify(STACK, signed(who=stranger), wall())
    assert denied == Denied("The security token included in the request is invalid.", "UnrecognizedClientException")


def test_a_signature_for_another_region_is_refused():
    denied = verify(STACK, signed(region="eu-west-1"), wall())
    assert isinstance(denied, Denied) and "eu-west-1" in denied.message


@pytest.mark.parametrize("skew", [timedelta(minutes=-5), timedelta(minutes=5), timedelta(0)])
def test_a_signature_within_five_minutes_of_the_wall_clock_passes(skew):
    assert isinstance(verify(STACK, signed(at=T0), wall(T0 + skew)), Caller)


def test_a_signature_older_than_five_minutes_has_expired():
    denied = verify(STACK, signed(at=T0), wall(T0 + timedelta(minutes=5, seconds=1)))
    assert denied == Denied(
        "Signature expired: 20261202T060000Z is now earlier than 20261202T060001Z (20261202T060501Z - 5 min.)",
        "InvalidSignatureException",
    )


def test_a_signature_more_than_five_minutes_ahead_is_not_yet_current():
    denied = verify(STACK, signed(at=T0 + timedelta(minutes=6)), wall(T0))
    assert isinstance(denied, Denied) and denied.message.startswith("Signature not yet current: 20261202T060600Z")


def test_secret_keys_are_never_in_a_message_nor_a_repr():
    for req in (signed(who=Principal("operator", OPERATOR.access_key_id, "x")), signed(at=T0 - timedelta(hours=1))):
        denied = verify(STACK, req, wall())
        assert isinstance(denied, Denied)
        assert OPERATOR.secret_access_key not in denied.message
    assert OPERATOR.secret_access_key not in repr(OPERATOR) and OPERATOR.secret_access_key not in repr(STACK)
    assert OPERATOR.secret_access_key not in str(STACK.export())


# ----------------------------------------------------------------- the policy evaluator

ARN = "arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/tenants/acme"


def caller(role: str = "reader") -> Caller:
    return Caller(READER, f"arn:aws:sts::123456789012:assumed-role/{role}/s", f"arn:aws:iam::123456789012:role/{role}")


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def st(effect: str, resource: str | list[str], principal: object = "*", action: str = "execute-api:Invoke") -> dict:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource}


def test_an_allow_that_matches_allows():
    assert evaluate(policy(st("Allow", ARN)), caller(), "execute-api:Invoke", ARN, "123456789012") is Decision.ALLOW


def test_an_explicit_deny_wins_over_an_allow():
    p = policy(st("Allow", "*"), st("Deny", ARN))
    assert evaluate(p, caller(), "execute-api:Invoke", ARN, "123456789012") is Decision.EXPLICIT_DENY


def test_no_matching_statement_denies():
    p = policy(st("Allow", ARN.replace("acme", "globex")), st("Allow", ARN, action="execute-api:ManageConnections"))
    assert evaluate(p, caller(), "execute-api:Invoke", ARN, "123456789012") is Decision.IMPLICIT_DENY
    assert evaluate(policy(), caller(), "execute-api:Invoke", ARN, "123456789012") is Decision.IMPLICIT_DENY


def test_a_statement_for_another_principal_does_not_apply():
    p = policy(st("Allow", ARN, principal={"AWS": "arn:aws:iam::123456789012:role/operator"}))
    assert evaluate(p, caller("reader"), "execute-api:Invoke", ARN, "123456789012") is Decision.IMPLICIT_DENY
    assert evaluate(p, caller("operator"), "execute-api:Invoke", ARN, "123456789012") is Decision.ALLOW


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        ("arn:aws:execute-api:us-east-1:123456789012:api1/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:api1/*/GET/tenants/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:api1/local/*/tenants/acm?", True),
        ("arn:aws:execute-api:*:*:*/*/GET/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:api1/local/POST/*", False),
        ("arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/tenants", False),
        ("arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/tenants/acm", False),
        ("arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/TENANTS/*", False),
    ],
)
def test_wildcards_in_the_resource_as_iam_matches_them(pattern, allowed):
    decision = evaluate(policy(st("Allow", pattern)), caller(), "execute-api:Invoke", ARN, "123456789012")
    assert (decision is Decision.ALLOW) is allowed


def test_a_wildcard_matches_any_character_a_newline_included():
    # A hostile path ("/tenants/alpha\n") is the function's to refuse (400), not the
    # policy's: IAM's "*" matches any run of characters.
    odd = ARN.rsplit("/", 1)[0] + "/alpha\n"
    decision = evaluate(policy(st("Allow", "arn:aws:execute-api:us-east-1:123456789012:api1/*")), caller(), "execute-api:Invoke", odd, "123456789012")
    assert decision is Decision.ALLOW


def test_actions_match_case_insensitively_and_with_wildcards():
    for action in ("execute-api:*", "EXECUTE-API:invoke", "*"):
        assert evaluate(policy(st("Allow", ARN, action=action)), caller(), "execute-api:Invoke", ARN, "123456789012") is Decision.ALLOW


# ----------------------------------------------------------------- the stack's policy, end to end of the check


@pytest.mark.parametrize(
    ("who", "method", "path", "allowed"),
    [
        (OPERATOR, "POST", "/tenants", True),
        (OPERATOR, "DELETE", "/tenants/acme", True),
        (OPERATOR, "GET", "/tenants/acme/secrets", True),
        (READER, "GET", "/tenants", True),
        (READER, "GET", "/tenants/acme", True),
        (READER, "GET", "/tenants/acme/secrets", False),
        (READER, "POST", "/tenants", False),
        (READER, "PATCH", "/tenants/acme", False),
        (READER, "DELETE", "/tenants/acme", False),
    ],
)
def test_the_stacks_policy_lets_operators_do_everything_and_readers_only_read(who, method, path, allowed):
    out = authorize(STACK, signed(method, path, body=b"" if method == "GET" else BODY, who=who), wall())
    if allowed:
        assert isinstance(out, Caller) and out.principal == who
    else:
        assert isinstance(out, Denied) and out.status == 403 and out.error_type == "AccessDeniedException"
        assert out.message.startswith(
            f"User: arn:aws:sts::123456789012:assumed-role/tenant-sim-reader/reader is not authorized to perform: "
            f"execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:tenantsim1/local/{method}{path}"
        )


def test_the_secrets_path_is_an_explicit_deny_for_readers():
    out = authorize(STACK, signed("GET", "/tenants/acme/secrets", body=b"", who=READER), wall())
    assert isinstance(out, Denied) and out.message.endswith(" with an explicit deny")


def test_a_denial_is_api_gateways_json_403():
    resp = Denied("Missing Authentication Token", "MissingAuthenticationTokenException").response()
    assert (resp.status, resp.body) == (403, {"message": "Missing Authentication Token"})
    assert resp.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
