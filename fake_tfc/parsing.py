"""Parse JSON:API request bodies into typed inputs, or fail with an error that names
the field (``source.pointer``). Unknown attributes are ignored, as TFC does: real
clients send extra ones (pytfe sends ``type``, an empty ``vcs-repo``, nested dumps)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from .errors import BadRequest, InvalidAttribute
from .inputs import RunInput, VariableInput, WorkspaceInput
from .statuses import VariableCategory
from .workspaces import WORKSPACE_DEFAULTS

#: TFC: "Workspace names can only include letters, numbers, -, and _" (up to 90 characters).
#: Checked with ``fullmatch`` (``re.match`` and ``$`` would accept a trailing newline).
WORKSPACE_NAME = re.compile(r"[A-Za-z0-9_-]{1,90}")
#: Variable keys. Terraform variables are named by identifiers ("letters, digits,
#: underscores and hyphens; the first character must not be a digit", Terraform language,
#: "Identifiers"); environment variables by POSIX names (letters, digits and underscores, not
#: starting with a digit). TFC documents no length limit; the fake takes 128 characters.
TERRAFORM_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

_BOOL_SETTINGS = {k for k, v in WORKSPACE_DEFAULTS.items() if isinstance(v, bool)}
_STR_SETTINGS = {"description", "terraform-version", "working-directory", "source-name", "source-url"}
_LIST_SETTINGS = {"trigger-prefixes", "trigger-patterns", "tag-names"}
_EXECUTION_MODES = ("remote", "local", "agent")

WORKSPACE_RELATIONSHIPS = frozenset({"project", "tag-bindings", "agent-pool", "organization"})
RUN_RELATIONSHIPS = frozenset({"workspace", "configuration-version"})
VAR_RELATIONSHIPS = frozenset({"configurable", "workspace"})


def parse_json(body: bytes) -> Any:
    """Strict JSON (RFC 8259, UTF-8): orjson refuses what the fake could not answer
    with later (lone surrogates, NaN, Infinity) and nesting deeper than 1024, all as
    ``JSONDecodeError``, a ``ValueError``; the stdlib accepts the first three and
    raises ``RecursionError`` on the last."""
    if not body.strip():
        raise BadRequest("request body is empty; expected a JSON:API document")
    try:
        return orjson.loads(body)
    except ValueError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None


def resource_object(
    body: bytes, expected_type: str, relationships: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(attributes, relationships) of the document's primary resource object."""
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise InvalidAttribute("document must be a JSON object", pointer="")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise InvalidAttribute("data must be a resource object", pointer="/data")
    rtype = data.get("type")
    if rtype != expected_type:
        raise InvalidAttribute(
            f"data.type must be {expected_type!r}, got {rtype!r}", pointer="/data/type"
        )
    attrs = data.get("attributes", {})
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, dict):
        raise InvalidAttribute("attributes must be an object", pointer="/data/attributes")
    rels = data.get("relationships", {})
    if rels is None:
        rels = {}
    if not isinstance(rels, dict):
        raise InvalidAttribute("relationships must be an object", pointer="/data/relationships")
    for name, rel in rels.items():
        if name not in relationships:
            raise InvalidAttribute(
                f"unknown relationship {name!r}", pointer=f"/data/relationships/{_escape(name)}"
            )
        if not isinstance(rel, dict) or "data" not in rel:
            raise InvalidAttribute(
                "a relationship must be an object with data", pointer=f"/data/relationships/{name}"
            )
    return attrs, rels


def _escape(segment: str) -> str:
    """A JSON Pointer reference token (RFC 6901): ``~`` and ``/`` escaped."""
    return segment.replace("~", "~0").replace("/", "~1")


def _ptr(name: str) -> str:
    return f"/data/attributes/{name}"


def _bool(attrs: dict[str, Any], name: str) -> bool | None:
    value = attrs.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidAttribute(f"{name} must be a boolean", pointer=_ptr(name))
    return value


def _str(attrs: dict[str, Any], name: str) -> str | None:
    value = attrs.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAttribute(f"{name} must be a string", pointer=_ptr(name))
    return value


def workspace_input(body: bytes, *, create: bool) -> WorkspaceInput:
    attrs, _ = resource_object(body, "workspaces", WORKSPACE_RELATIONSHIPS)
    name = _str(attrs, "name")
    if create and not name:
        raise InvalidAttribute("Name can't be blank", pointer=_ptr("name"))
    if name is not None and not WORKSPACE_NAME.fullmatch(name):
        raise InvalidAttribute(
            "Name is invalid: only letters, numbers, - and _ are allowed, up to 90 characters",
            pointer=_ptr("name"),
        )
    settings: dict[str, Any] = {}
    for key in _BOOL_SETTINGS:
        flag = _bool(attrs, key)
        if flag is not None:
            settings[key] = flag
    for key in _STR_SETTINGS:
        text = _str(attrs, key)
        if text is not None:
            settings[key] = text
    for key in _LIST_SETTINGS:
        value = attrs.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidAttribute(f"{key} must be a list of strings", pointer=_ptr(key))
        settings[key] = list(value)
    mode = attrs.get("execution-mode")
    if mode is not None:
        if mode not in _EXECUTION_MODES:
            raise InvalidAttribute(
                f"execution-mode must be one of {', '.join(_EXECUTION_MODES)}", pointer=_ptr("execution-mode")
            )
        settings["execution-mode"] = mode
    vcs = attrs.get("vcs-repo")
    if vcs:  # an empty object (pytfe's default) means no VCS
        if not isinstance(vcs, dict) or not vcs.get("identifier") or not vcs.get("oauth-token-id"):
            raise InvalidAttribute(
                "vcs-repo needs identifier and oauth-token-id", pointer=_ptr("vcs-repo")
            )
    return WorkspaceInput(name=name, settings=settings)


def variable_input(body: bytes, *, create: bool) -> VariableInput:
    attrs, _ = resource_object(body, "vars", VAR_RELATIONSHIPS)
    key = _str(attrs, "key")
    if key is not None and not key:
        raise InvalidAttribute("Key can't be blank", pointer=_ptr("key"))
    category_raw = attrs.get("category")
    category = None
    if category_raw is not None:
        try:
            category = VariableCategory(category_raw)
        except ValueError:
            raise InvalidAttribute(
                "category must be 'terraform' or 'env'", pointer=_ptr("category")
            ) from None
    if create and key is None:
        raise InvalidAttribute("Key can't be blank", pointer=_ptr("key"))
    if create and category is None:
        raise InvalidAttribute("Category can't be blank", pointer=_ptr("category"))
    if key is not None and not (ENV_KEY if category is VariableCategory.ENV else TERRAFORM_KEY).fullmatch(key):
        raise InvalidAttribute(
            "Key is invalid: letters, digits and underscores (and - in Terraform variables), "
            "not starting with a digit, up to 128 characters",
            pointer=_ptr("key"),
        )
    value = attrs.get("value")
    if value is not None and not isinstance(value, str):
        raise InvalidAttribute("value must be a string", pointer=_ptr("value"))
    return VariableInput(
        key=key,
        value=value,
        category=category,
        description=_str(attrs, "description"),
        hcl=_bool(attrs, "hcl"),
        sensitive=_bool(attrs, "sensitive"),
    )


def run_input(body: bytes) -> RunInput:
    attrs, rels = resource_object(body, "runs", RUN_RELATIONSHIPS)
    ws = rels.get("workspace", {}).get("data") if rels.get("workspace") else None
    if not isinstance(ws, dict) or not isinstance(ws.get("id"), str) or not ws["id"]:
        raise InvalidAttribute(
            "workspace is required", pointer="/data/relationships/workspace/data/id"
        )
    if ws.get("type", "workspaces") != "workspaces":
        raise InvalidAttribute(
            "workspace must be of type 'workspaces'", pointer="/data/relationships/workspace/data/type"
        )
    is_destroy = _bool(attrs, "is-destroy") or False
    refresh_only = _bool(attrs, "refresh-only") or False
    if is_destroy and refresh_only:
        raise InvalidAttribute(
            "is-destroy and refresh-only cannot both be true", pointer=_ptr("refresh-only")
        )
    message = _str(attrs, "message")
    return RunInput(
        workspace_id=ws["id"],
        is_destroy=is_destroy,
        auto_apply=_bool(attrs, "auto-apply"),
        message=message if message else None,
        plan_only=_bool(attrs, "plan-only") or False,
    )


def page_params(query: dict[str, str], *, default_size: int = 20) -> tuple[int, int]:
    """``page[number]`` (from 1) and ``page[size]`` (1 to 100)."""
    def read(name: str, default: int, lo: int, hi: int) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an integer", parameter=name) from None
        if value < lo:
            raise BadRequest(f"{name} must be at least {lo}", parameter=name)
        return min(value, hi)

    return read("page[number]", 1, 1, 10**9), read("page[size]", default_size, 1, 100)
