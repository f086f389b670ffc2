"""The control plane: code that would deploy to AWS unchanged.

It never imports the simulator (``sim.*`` outside this package) or ``fake_tfc``; the
simulator imports it.
"""
