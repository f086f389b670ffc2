"""Remote backends: the same stack deployed through boto3 to a LocalStack-compatible
engine (MiniStack, LocalStack) or AWS, with the Lambdas packaged as real deployment zips.

- :mod:`sim.engines.remote.package`: the Lambda deployment zip (control plane + dependencies).
- :mod:`sim.engines.remote.ministack`: MiniStack in its own virtual environment on a free loopback port.
- :mod:`sim.engines.remote.backend`: :class:`~sim.engines.remote.backend.RemoteBackend`, the stack deployed
  to an endpoint, a fake TFC on loopback (wall clock), and the REST API through
  lambda.invoke; :class:`~sim.engines.remote.backend.MiniStackBackend` owns a MiniStack of its own.
- :mod:`sim.commands.up_remote`: ``--backend localstack|ministack`` for ``python -m sim up``.

Findings, the feature table per engine, and timings: ``sim/engines/remote/README.md``.
"""
