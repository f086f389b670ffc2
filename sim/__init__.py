"""The control plane and its runtime (issue 3). For now: the ``make sim`` demo of the fake TFC."""
