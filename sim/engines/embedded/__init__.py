"""The embedded backend: moto plus what moto does not do for this control plane."""
