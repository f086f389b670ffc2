# Each target installs what it needs into .venv (from pyproject.toml) before it runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: sim test bench soak test-ministack fake-tfc clean

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

# The property-based lifecycle tests with many more examples than CI runs.
soak: $(STAMP)
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest -q tests/property $(PYTEST_ARGS)

# The same stack on MiniStack (installed in its own venv under .venv/, real time).
test-ministack: $(STAMP)
	$(PY) -m pytest -q tests/ministack $(PYTEST_ARGS)

fake-tfc: $(STAMP)
	$(PY) -m fake_tfc

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
