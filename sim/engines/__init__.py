"""Where the control plane runs: the embedded engine (moto plus our layers, simulated time) and
LocalStack-compatible engines (real time). Each is a :class:`~sim.engines.base.Backend`."""
