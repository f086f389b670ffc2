"""A stopped embedded backend leaves nothing behind: a process that starts many (a test
run, a seed campaign's worker, a notebook) does not grow by each one."""

from __future__ import annotations

import gc
import weakref

from sim.engines.embedded.environment import EmbeddedBackend

from .conftest import create, settle


def test_a_stopped_backend_whose_handlers_ran_is_freed():
    """The handlers' warm state (clients, the TFC client) is kept with the container that
    runs them: kept in a module-level table keyed by the container, it referred back to
    the container, and no backend that had run a flow was ever freed (~20 MB each)."""
    env = EmbeddedBackend().start()
    assert create(env, "freed").status == 202
    assert settle(env, "freed")["status"] == "ready"
    check = env.dispatcher.warm_container(f"{env.stack.prefix}-check")
    assert getattr(check, "warm", None), "the Check container kept no warm state: the test would not cover it"
    gone = weakref.ref(env)
    env.stop()
    del env, check
    gc.collect()
    assert gone() is None, "the stopped backend is still referenced"
