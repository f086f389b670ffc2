"""The Lambda deployment zip: ``sim/__init__.py`` and the ``sim/controlplane`` package
(only what the handlers import, never the simulator or the fake TFC) plus their
third-party dependencies, installed with ``pip install --target``.

    path = build_zip()                  # cached under .venv/lambda-build/
    deploy(clients, stack, tfc_token=..., code_zip=path.read_bytes())

Targets (the interpreter that will import the code decides which wheels fit):

- ``Target.host()``: this interpreter's Python version and platform. MiniStack's local
  executor runs Python handlers with *its own* interpreter (``sys.executable`` of the
  MiniStack process), which :mod:`sim.engines.remote.ministack` creates from this one, so host
  wheels are the right ones there.
- ``Target.lambda_runtime()``: CPython 3.11 manylinux wheels, what the ``python3.11``
  runtime (AWS, and LocalStack's Docker-based Lambda) imports.

boto3 is bundled by default: AWS's runtime provides one, but MiniStack's interpreter has
only the botocore MiniStack pins and no boto3 (checked on ministack 1.5.33). Bundling pins
the SDK the handlers were tested with, and MiniStack's worker puts the code directory
first on ``sys.path``, so the bundled botocore wins over its own.

botocore's service models are most of the zip (2,000 of its 2,500 files, 16 of its 20 MB)
and MiniStack extracts the zip once per function at cold start (3-4 s each for the full
botocore on this 2-core machine). By default only the models of the services the
handlers name (``client("dynamodb")`` and so on, found in the source) are kept, and the
build checks that a client of each can be made from the zip alone.

The zip is keyed by a hash of the sources, the requirements and the target, so an
unchanged tree reuses it (a cache hit costs one hash of ~15 small files).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SIM = ROOT / "sim"
CONTROLPLANE = SIM / "controlplane"
DEFAULT_CACHE = ROOT / ".venv" / "lambda-build"
#: The runtime the stack declares (``sim/stack/deploy.py``: ``Runtime="python3.11"``).
LAMBDA_PYTHON = "3.11"
#: What the handlers import from outside the standard library, by distribution.
DIRECT_DEPENDENCIES = ("pydantic", "httpx", "opentelemetry-api")
#: The top-level module of a distribution whose name is not its module's.
MODULE_OF = {"opentelemetry-api": "opentelemetry"}
SDK = ("boto3", "botocore")
#: Zip entries are stamped with this date so that the same inputs give the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
KEEP_BUILDS = 4


class PackagingError(RuntimeError):
    """The deployment zip could not be built, or would not be self-contained."""


@dataclass(frozen=True)
class Target:
    """Which wheels pip picks: ``pip_args`` are passed to ``pip install``."""

    name: str
    pip_args: tuple[str, ...] = ()
    #: True when this interpreter can import the result (so the build is smoke-tested).
    importable_here: bool = False

    @classmethod
    def host(cls) -> Target:
        tag = f"host-cp{sys.version_info.major}{sys.version_info.minor}-{sysconfig.get_platform()}"
        return cls(tag, (), True)

    @classmethod
    def lambda_runtime(cls, arch: str = "x86_64", python: str = LAMBDA_PYTHON) -> Target:
        platform = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}[arch]
        args = ("--platform", platform, "--implementation", "cp", "--python-version", python, "--only-binary=:all:")
        here = (
            f"{sys.version_info.major}.{sys.version_info.minor}" == python
            and sysconfig.get_platform() == f"linux-{'x86_64' if arch == 'x86_64' else 'aarch64'}"
        )
        return cls(f"lambda-cp{python.replace('.', '')}-{arch}", args, here)


@dataclass
class BuildInfo:
    path: Path
    key: str
    cached: bool
    seconds: float
    requirements: list[str] = field(default_factory=list)
    size: int = 0


# ---------------------------------------------------------------------- sources
def source_files() -> list[tuple[Path, str]]:
    """``(path, name in the zip)`` for the code the handlers need, sorted."""
    files = [(SIM / "__init__.py", "sim/__init__.py")]
    for p in sorted(CONTROLPLANE.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        files.append((p, p.relative_to(ROOT).as_posix()))
    return files


def check_isolation(files: list[tuple[Path, str]] | None = None) -> set[str]:
    """Raise :class:`PackagingError` if the control plane imports the simulator or the
    fake TFC (it must deploy alone). Returns the top-level third-party modules imported."""
    stdlib = set(sys.stdlib_module_names)
    third_party: set[str] = set()
    problems: list[str] = []
    for path, name in files or source_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level >= 2 or (node.level == 1 and name == "sim/__init__.py"):
                    problems.append(f"{name}:{node.lineno}: relative import out of the package (level {node.level})")
                    continue
                if node.level == 0 and node.module:
                    modules = [node.module]
            else:
                continue
            for mod in modules:
                top = mod.split(".")[0]
                if top == "fake_tfc" or (top == "sim" and mod != "sim" and not mod.startswith("sim.controlplane")):
                    problems.append(f"{name}:{node.lineno}: imports {mod}")
                elif top not in stdlib and top not in ("sim", "__future__"):
                    third_party.add(top)
    if problems:
        raise PackagingError("the control plane must not import the simulator or the fake TFC:\n  " + "\n  ".join(problems))
    return third_party


def sdk_services(files: list[tuple[Path, str]] | None = None) -> list[str]:
    """The AWS services the handlers build clients for: every ``*.client("<service>")``
    with a literal name in the control plane's source."""
    found: set[str] = set()
    for path, _ in files or source_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "client"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return sorted(found)


def requirements(include_boto3: bool = True) -> list[str]:
    """The handlers' direct dependencies, pinned to the versions installed here (the ones
    the test suite ran them with); pip resolves the rest."""
    out = []
    for dist in DIRECT_DEPENDENCIES + (SDK if include_boto3 else ()):
        try:
            out.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(dist)
    return out


def cache_key(files: list[tuple[Path, str]], reqs: list[str], target: Target, services: list[str] | None) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"format": 2, "target": target.name, "pip": list(target.pip_args), "requirements": reqs, "services": services}).encode())
    for path, name in files:
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


# ---------------------------------------------------------------------- build
def build_zip(
    *,
    target: Target | None = None,
    include_boto3: bool = True,
    slim_sdk: bool = True,
    cache_dir: Path | str | None = None,
    python: str | None = None,
) -> BuildInfo:
    """Build (or reuse) the deployment zip; ``.path`` is the file, ``.cached`` tells which.

    ``slim_sdk`` keeps only the botocore models of the services the handlers use;
    ``python`` is the interpreter whose pip installs the dependencies (default: this one)."""
    start = time.monotonic()
    target = target or Target.host()
    files = source_files()
    third_party = check_isolation(files)
    reqs = requirements(include_boto3)
    wanted = {MODULE_OF.get(d, d).replace("-", "_") for d in (r.split("==")[0] for r in reqs)}
    provided = {"boto3", "botocore"} if not include_boto3 else set()
    missing = sorted(m for m in third_party if m not in wanted and m not in provided)
    if missing:
        raise PackagingError(f"the control plane imports {missing}, which are not in the requirements {reqs}")

    services = sdk_services(files) + ["sts"] if include_boto3 and slim_sdk else None
    key = cache_key(files, reqs, target, services)
    out_dir = Path(cache_dir or os.environ.get("TENANT_SIM_LAMBDA_BUILD_DIR") or DEFAULT_CACHE)
    suffix = "-nosdk" if not include_boto3 else ("-slim" if services else "")
    path = out_dir / f"controlplane-{target.name}{suffix}-{key}.zip"
    if path.is_file():
        return BuildInfo(path, key, True, time.monotonic() - start, reqs, path.stat().st_size)

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lambda-build-", dir=out_dir) as tmp:
        site = Path(tmp) / "package"
        _pip_install(python or sys.executable, site, reqs, target)
        for src, name in files:
            dest = site / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        if services:
            _slim_botocore(site, services)
        if target.importable_here:
            _smoke_import(site, services or [])
        partial = Path(tmp) / "out.zip"
        _write_zip(site, partial)
        os.replace(partial, path)  # atomic: a concurrent build writes the same bytes
    _prune(out_dir, keep=path)
    return BuildInfo(path, key, False, time.monotonic() - start, reqs, path.stat().st_size)


def _pip_install(python: str, site: Path, reqs: list[str], target: Target) -> None:
    cmd = [
        python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
        "--no-compile", "--target", str(site), *target.pip_args, *reqs,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [ln[:300] for ln in (proc.stderr or proc.stdout).splitlines() if ln.startswith("ERROR")]
        tail = "\n".join(errors[-8:] or (proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise PackagingError(f"pip could not install the Lambda dependencies {reqs} for {target.name}:\n{tail}")


def _slim_botocore(site: Path, services: list[str]) -> None:
    data = site / "botocore" / "data"
    if not data.is_dir():
        raise PackagingError(f"no botocore/data in the package: cannot keep only {services}")
    for entry in data.iterdir():
        if entry.is_dir() and entry.name not in services:
            shutil.rmtree(entry)
    missing = [s for s in services if not (data / s).is_dir()]
    if missing:
        raise PackagingError(f"botocore has no model for {missing}")


def _smoke_import(site: Path, services: list[str]) -> None:
    """Import every handler module, and make a client of each kept service, with nothing
    but the standard library and the package on ``sys.path`` (``-S``: no site-packages):
    proves the zip is self-contained."""
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); "
        "import sim.controlplane.handlers as h; "
        "[getattr(h, n) for n in ('api', 'trigger_handler', 'check_handler', 'finalize_handler', 'decommission_handler')]; "
        "import boto3; [boto3.client(s, region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x') "
        "for s in json.loads(sys.argv[2])]"
    )
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(site), json.dumps(services)], capture_output=True, text=True, cwd=site)
    if proc.returncode != 0:
        raise PackagingError(f"the packaged handlers do not import on their own:\n{proc.stderr.strip()[-2000:]}")


def _write_zip(site: Path, dest: Path) -> None:
    entries = []
    for p in site.rglob("*"):
        rel = p.relative_to(site)
        if p.is_dir() or rel.parts[0] == "bin" or "__pycache__" in rel.parts or p.suffix == ".pyc":
            continue
        entries.append((rel.as_posix(), p))
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, p in sorted(entries):
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            mode = 0o755 if os.access(p, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, p.read_bytes())


def _prune(out_dir: Path, keep: Path) -> None:
    builds = sorted(out_dir.glob("controlplane-*.zip"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[KEEP_BUILDS:]:
        if old != keep:
            old.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sim.engines.remote.package", description="Build the Lambda deployment zip.")
    parser.add_argument("--target", choices=["host", "lambda-x86_64", "lambda-arm64"], default="host")
    parser.add_argument("--no-boto3", action="store_true", help="leave boto3/botocore to the runtime (AWS provides them)")
    parser.add_argument("--full-sdk", action="store_true", help="keep every botocore service model")
    parser.add_argument("--out", help="copy the zip here as well")
    args = parser.parse_args(argv)
    target = Target.host() if args.target == "host" else Target.lambda_runtime(args.target.split("-")[1])
    info = build_zip(target=target, include_boto3=not args.no_boto3, slim_sdk=not args.full_sdk)
    if args.out:
        shutil.copyfile(info.path, args.out)
    state = "cached" if info.cached else "built"
    print(f"{info.path} ({info.size / 1e6:.1f} MB, {state} in {info.seconds:.1f} s; {' '.join(info.requirements)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
