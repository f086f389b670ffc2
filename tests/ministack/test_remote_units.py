"""The pieces of the remote backend that need no engine: the deployment zip, the
endpoint resolution, and MiniStack's failure to start reported by name."""

from __future__ import annotations

import json
import stat
import sys
import zipfile
from pathlib import Path

import pytest

from sim.engines.remote import package
from sim.engines.remote.backend import resolve_endpoint
from sim.engines.remote.ministack import MiniStack, MiniStackUnavailable


def test_the_control_plane_imports_neither_the_simulator_nor_the_fake():
    third_party = package.check_isolation()
    assert third_party == {"boto3", "botocore", "httpx", "opentelemetry", "pydantic"}


def test_an_import_of_the_simulator_is_refused(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text("from sim.engines.embedded.environment import proxy_event\nimport fake_tfc\nfrom .. import stack\n")
    with pytest.raises(package.PackagingError) as err:
        package.check_isolation([(bad, "sim/controlplane/bad.py")])
    text = str(err.value)
    assert "sim.engines.embedded.environment" in text and "fake_tfc" in text and "level 2" in text


def test_the_services_the_handlers_use_are_found_in_the_source():
    assert package.sdk_services() == ["dynamodb", "events", "secretsmanager", "sns", "sqs", "stepfunctions"]  # sqs, stepfunctions: redrive and reconcile


def test_requirements_are_pinned_to_what_the_tests_ran_with():
    import pydantic

    reqs = package.requirements()
    assert f"pydantic=={pydantic.VERSION}" in reqs
    assert {r.split("==")[0] for r in reqs} == {"pydantic", "httpx", "opentelemetry-api", "boto3", "botocore"}
    assert {r.split("==")[0] for r in package.requirements(include_boto3=False)} == {"pydantic", "httpx", "opentelemetry-api"}


@pytest.fixture(scope="module")
def built() -> package.BuildInfo:
    try:
        return package.build_zip()
    except package.PackagingError as exc:
        if "pip could not install" in str(exc):
            pytest.skip(f"Lambda dependencies unavailable: {exc}")
        raise


def test_the_zip_holds_the_handlers_and_their_dependencies_but_not_the_simulator(built: package.BuildInfo):
    names = zipfile.ZipFile(built.path).namelist()
    ours = sorted(n for n in names if n.startswith("sim/"))
    assert ours == sorted(name for _, name in package.source_files())
    assert "sim/controlplane/handlers.py" in ours and "sim/__init__.py" in ours
    assert not any(n.startswith(("sim/engines/embedded/", "sim/engines/remote/", "fake_tfc/")) or n == "sim/stack/wiring.py" for n in names)
    tops = {n.split("/")[0] for n in names}
    assert {"pydantic", "pydantic_core", "httpx", "httpcore", "anyio", "h11", "idna", "certifi", "boto3", "botocore"} <= tops
    assert not any("__pycache__" in n or n.endswith(".pyc") or n.startswith("bin/") for n in names)
    # Only the models of the services the handlers use (plus sts).
    models = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") >= 3}
    assert models == {"dynamodb", "events", "secretsmanager", "sns", "sqs", "stepfunctions", "sts"}


def test_a_second_build_is_the_cached_zip(built: package.BuildInfo):
    # Built again back to back (the sources may have been edited since the fixture ran).
    first = package.build_zip()
    again = package.build_zip()
    assert again.cached and again.path == first.path and again.key == first.key
    assert again.seconds < 1.0


def test_the_zip_runs_a_handler_with_only_the_standard_library_beside_it(built: package.BuildInfo, tmp_path: Path):
    zipfile.ZipFile(built.path).extractall(tmp_path)
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); "
        "from sim.controlplane.models import validate_tenant_code; "
        "from sim.controlplane.definition import definition; "
        "print(json.dumps([validate_tenant_code('acme'), sorted(definition('a', 'b', 'c', 'q')['States'])]))"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path)], capture_output=True, text=True, check=True, cwd=tmp_path)
    code_ok, states = json.loads(out.stdout)
    assert code_ok == "acme" and "Wait" in states


def test_the_endpoint_is_resolved_as_localstack_client_does(monkeypatch: pytest.MonkeyPatch):
    for var in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST", "USE_SSL"):
        monkeypatch.delenv(var, raising=False)
    assert resolve_endpoint("http://127.0.0.1:9999") == "http://127.0.0.1:9999"
    assert resolve_endpoint() == "http://localhost:4566"
    monkeypatch.setenv("LOCALSTACK_HOST", "127.0.0.2:4577")
    assert resolve_endpoint() == "http://127.0.0.2:4577"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.3:4588")
    assert resolve_endpoint() == "http://127.0.0.3:4588"


def test_a_ministack_that_will_not_start_is_reported_by_name(tmp_path: Path):
    # A "venv" whose interpreter exits at once, stamped as installed.
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    py = venv / "bin" / "python"
    py.write_text("#!/bin/sh\necho 'boom: cannot start' >&2\nexit 3\n")
    py.chmod(py.stat().st_mode | stat.S_IEXEC)
    from sim.engines.remote import ministack

    stamp = json.dumps({"spec": "ministack==test", "python": f"{sys.version_info.major}.{sys.version_info.minor}"})
    (venv / ".tenant-sim-installed").write_text(stamp)
    with pytest.raises(MiniStackUnavailable) as err:
        MiniStack(spec="ministack==test", venv=venv, startup_timeout=10).start()
    assert "exited with code 3" in str(err.value) and "boom: cannot start" in str(err.value)
    assert ministack.DEFAULT_REQUIREMENT.startswith("ministack==")
