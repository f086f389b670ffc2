# Each target installs what it needs into .venv (from pyproject.toml) before it runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: sim test bench fake-tfc clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

sim: $(STAMP)
	$(PY) -m sim demo

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks

fake-tfc: $(STAMP)
	$(PY) -m fake_tfc

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
