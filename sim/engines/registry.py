"""The engines, registered once: the command line (``--backend``), the pytest plugin
(``--sim-backend``) and the scenario runner all choose from :data:`ENGINES`. Each engine's
module is imported only when that engine is used (the embedded one loads moto)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import EngineUnavailable
from .features import feature

if TYPE_CHECKING:
    from .base import Backend

__all__ = ["ENGINES", "NAMES", "Engine", "EngineUnavailable", "engine"]


def _embedded(seed: int) -> Backend:
    from .embedded.environment import EmbeddedBackend, EmbeddedConfig

    return EmbeddedBackend(EmbeddedConfig(seed=seed))


def _ministack(seed: int) -> Backend:
    from .remote.backend import MiniStackBackend

    return MiniStackBackend()


def _localstack(seed: int) -> Backend:
    # An engine already running where localstack-client looks (AWS_ENDPOINT_URL, LOCALSTACK_HOST).
    from .remote.backend import RemoteBackend

    return RemoteBackend()


@dataclass(frozen=True)
class Engine:
    name: str
    summary: str
    #: Time is the simulator's (``run_until`` drives a clock) rather than the wall clock's.
    simulated_time: bool
    _create: Callable[[int], Backend]

    def create(self, seed: int = 0) -> Backend:
        """The backend, not yet started."""
        return self._create(seed)

    def start(self, seed: int = 0) -> Backend:
        """The backend, started with the stack deployed; :class:`EngineUnavailable` says why not."""
        from botocore.exceptions import ConnectionError as BotoConnectionError

        backend = self.create(seed)
        try:
            return backend.start()  # MiniStackUnavailable is an EngineUnavailable
        except BotoConnectionError as exc:
            raise EngineUnavailable(f"{self.name} unavailable: {exc}") from exc

    def supports(self, key: str) -> bool:
        return feature(key).cell(self.name).available


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine("embedded", "moto in-process plus our layers, on a simulated clock (default)", True, _embedded),
        Engine("ministack", "MiniStack started here in its own venv; real time", False, _ministack),
        Engine("localstack", "a LocalStack-compatible engine already running (AWS_ENDPOINT_URL, LOCALSTACK_HOST); real time", False, _localstack),
    )
}
NAMES = tuple(ENGINES)


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; choose from {', '.join(NAMES)}") from None
