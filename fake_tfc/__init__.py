"""A fake Terraform Cloud (API v2, JSON:API) with run outcomes and faults under the
test's control. See the README's "fake_tfc" section."""

from .app import create_app
from .backend import DEFAULT_ORGANIZATION, FakeTFC
from .behaviour import DEFAULT_DURATIONS, Outcome, OutputSpec, RunBehaviour, RunScript
from .clock import Clock, VirtualClock, WallClock
from .errors import ApiError
from .faults import FaultRule
from .inputs import Token, TokenKind
from .statuses import RunStatus

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
