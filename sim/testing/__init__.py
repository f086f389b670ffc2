"""For a test suite of your own: the pytest plugin (:mod:`sim.testing.pytest_plugin`) and the
REST API client it hands out (:mod:`sim.testing.api_client`)."""
