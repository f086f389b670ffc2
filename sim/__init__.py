"""tenant-sim: the control plane (:mod:`sim.controlplane`), its stack (:mod:`sim.stack`), the engines
it runs on (:mod:`sim.engines`), scenarios (:mod:`sim.scenarios`), the command line
(:mod:`sim.commands`, ``python -m sim``) and the pytest plugin (:mod:`sim.testing`)."""
