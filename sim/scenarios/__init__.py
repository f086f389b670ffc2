"""Scenario files, the runner that plays them on the embedded backend, the trace it
writes, replay, and the invariants checked over every run."""
