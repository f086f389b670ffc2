"""The control plane's stack, declared once (:mod:`sim.stack.wiring`), applied through boto3
to any endpoint (:mod:`sim.stack.deploy`) and exported for review (:mod:`sim.stack.export`)."""
