"""A fake Terraform Cloud (API v2, JSON:API) with run outcomes and faults under the
test's control. See the README's "fake_tfc" section."""

from typing import TYPE_CHECKING, Any

from .backend import DEFAULT_ORGANIZATION, FakeTFC
from .behaviour import DEFAULT_DURATIONS, Outcome, OutputSpec, RunBehaviour, RunScript
from .clock import Clock, VirtualClock, WallClock
from .errors import ApiError
from .faults import FaultRule
from .inputs import Token, TokenKind
from .statuses import RunStatus

if TYPE_CHECKING:
    from .app import create_app


def __getattr__(name: str) -> Any:
    # The HTTP layer (Starlette, the admin API's pydantic models) loads when an app is
    # first made: the fake's model alone does not need it.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'fake_tfc' has no attribute {name!r}")

__all__ = [
    "Clock",
    "DEFAULT_DURATIONS",
    "DEFAULT_ORGANIZATION",
    "FakeTFC",
    "FaultRule",
    "Outcome",
    "OutputSpec",
    "RunBehaviour",
    "RunScript",
    "RunStatus",
    "ApiError",
    "Token",
    "TokenKind",
    "VirtualClock",
    "WallClock",
    "create_app",
]
