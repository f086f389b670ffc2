"""Method-level auth (AWS_IAM) end to end through ``python -m sim up``'s REST API: unsigned
requests refused as API Gateway refuses them, the operator and the reader signing with
botocore's SigV4 as any AWS client does, the resource policy applied per method and path,
and ``--auth none`` serving the original, unsigned design."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sim.engines.iam_auth import httpx_auth, sign
from sim.stack.wiring import OPERATOR, READER
from tests.e2e.test_up_live import CREATE, _command, _lines, _next_json


@pytest.fixture
def sim_up(request) -> Iterator[dict]:
    """A ``sim up --virtual-clock --log-format json`` process (extra flags from the test's
    parametrization); its ``up`` line."""
    extra = getattr(request, "param", ())
    proc = subprocess.Popen(_command("--virtual-clock", "--log-format", "json", *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield _next_json(_lines(proc), "up")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def botocore_signed(method: str, url: str, body: bytes, key: str, secret: str) -> httpx.Request:
    """A request signed as the README shows it: botocore's ``SigV4Auth`` over an ``AWSRequest``."""
    aws = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(aws)
    return httpx.Request(method, url, content=body, headers=dict(aws.headers))


def test_by_default_the_api_wants_signed_requests_and_applies_the_resource_policy(sim_up):
    api = sim_up["api"]
    assert sim_up["auth"] == "iam"
    with httpx.Client(timeout=30) as http:
        unsigned = http.get(f"{api}/tenants")
        assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Missing Authentication Token"})
        assert unsigned.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"

        body = b'{"tenant_code": "acme", "variables": {"tier": "gold"}, "decommission_date": "2099-01-01"}'
        created = http.send(botocore_signed("POST", f"{api}/tenants", body, OPERATOR.access_key_id, OPERATOR.secret_access_key))
        assert created.status_code == 202 and created.json()["status"] == "creating"

        reader = httpx_auth("reader")
        assert http.get(f"{api}/tenants/acme", auth=reader).json()["status"] == "creating"
        assert http.get(f"{api}/tenants", params={"limit": "5"}, auth=reader).status_code == 200

        refused = http.post(f"{api}/tenants", json={"tenant_code": "globex", **CREATE}, auth=reader)
        assert refused.status_code == 403
        assert refused.json()["message"] == (
            "User: arn:aws:sts::123456789012:assumed-role/tenant-sim-reader/reader is not authorized to perform: "
            "execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:tenantsim1/local/POST/tenants"
        )
        secrets = http.get(f"{api}/tenants/acme/secrets", auth=reader)
        assert secrets.status_code == 403 and secrets.json()["message"].endswith("/GET/tenants/acme/secrets with an explicit deny")
        assert http.get(f"{api}/tenants/acme/secrets", auth=httpx_auth("operator")).status_code == 200
        # the reader's refused POST changed nothing
        assert http.get(f"{api}/tenants/globex", auth=reader).status_code == 404


def test_a_bad_or_stale_signature_is_refused(sim_up):
    api = sim_up["api"]
    with httpx.Client(timeout=30) as http:
        forged = botocore_signed("GET", f"{api}/tenants", b"", READER.access_key_id, "not-the-readers-secret")
        bad = http.send(forged)
        assert bad.status_code == 403
        assert bad.json()["message"].startswith("The request signature we calculated does not match the signature you provided.")
        stale_at = datetime.now(timezone.utc) - timedelta(minutes=10)
        stale = http.get(f"{api}/tenants", headers=sign(OPERATOR, "us-east-1", "GET", f"{api}/tenants", at=stale_at))
        assert stale.status_code == 403 and stale.json()["message"].startswith(f"Signature expired: {stale_at:%Y%m%dT%H%M%SZ} is now earlier than")
        unknown = http.send(botocore_signed("GET", f"{api}/tenants", b"", "AKIASTRANGEREXAMPLE1", "x"))
        assert unknown.json() == {"message": "The security token included in the request is invalid."}


@pytest.mark.parametrize("sim_up", [("--auth", "none")], indirect=True)
def test_auth_none_serves_the_original_unsigned_api(sim_up):
    api = sim_up["api"]
    assert sim_up["auth"] == "none"
    with httpx.Client(timeout=30) as http:
        assert http.post(f"{api}/tenants", json={"tenant_code": "acme", **CREATE}).status_code == 202
        assert http.get(f"{api}/tenants/acme").json()["status"] == "creating"


def test_curl_aws_sigv4_as_the_readme_shows_it(sim_up):
    """The README's curl examples: ``--aws-sigv4 "aws:amz:us-east-1:execute-api" --user KEY:SECRET``."""
    import shutil

    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine")
    api = sim_up["api"]

    def curl(*args: str, who=OPERATOR) -> tuple[int, dict]:
        done = subprocess.run(
            ["curl", "-s", "-w", "\n%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:execute-api",
             "--user", f"{who.access_key_id}:{who.secret_access_key}", *args],
            capture_output=True, text=True, timeout=30,
        )
        body, _, code = done.stdout.rpartition("\n")
        return int(code), json.loads(body)

    body = '{"tenant_code":"acme","variables":{"tier":"gold"},"decommission_date":"2099-01-01"}'
    assert curl("-X", "POST", f"{api}/tenants", "-d", body)[0] == 202
    assert curl(f"{api}/tenants/acme", who=READER) == (200, curl(f"{api}/tenants/acme")[1])
    code, refused = curl(f"{api}/tenants/acme/secrets", who=READER)
    assert code == 403 and refused["message"].endswith("with an explicit deny")
