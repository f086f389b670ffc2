# Each target installs what it needs into .venv (from pyproject.toml) before it runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The suite on every core, a file's tests in one process (XDIST= runs it in one process).
# "auto" is one worker more than the cores and the real-time (MiniStack) files are handed
# out early (tests/conftest.py says why); --no-loadscope-reorder keeps that order, which
# xdist would otherwise replace with "most tests first".
XDIST ?= -n auto --dist loadfile --no-loadscope-reorder

.PHONY: sim test bench attack soak test-ministack fake-tfc fidelity clean

$(PY):
	@echo "creating the virtual environment in $(VENV)/ ..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The editable install's "folders named like the package" notice is setuptools'
# information for flat layouts, not a problem here: silenced by its message only.
$(STAMP): pyproject.toml | $(PY)
	@echo "installing tenant-sim and its test dependencies into $(VENV)/ (about 30 s the first time) ..."
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)
	@echo "installed."

# The demo; its HTML report is written to reports/demo.html (the path is printed).
sim: $(STAMP)
	$(PY) -m sim demo

# The type check first: pytest's summary stays the last line of the output.
test: $(STAMP)
	@echo "type check (mypy), then the test suite ..."
	$(PY) -m mypy
	$(PY) -m pytest -q $(XDIST) $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks

# The adversarial trial's kinds of attack, counted: requests sent, 5xx, lost, false answers, secrets.
attack: $(STAMP)
	$(PY) -m benchmarks.attack

# The property-based lifecycle tests with many more examples than CI runs.
soak: $(STAMP)
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest -q tests/property $(PYTEST_ARGS)

# The same stack on MiniStack (installed in its own venv under .venv/, real time).
test-ministack: $(STAMP)
	$(PY) -m pytest -q tests/ministack $(PYTEST_ARGS)

# Agreement with the behaviour recorded on AWS (../shared/reference/aws-recorded), per area;
# on a clone without ../shared it says the recordings are absent.
fidelity: $(STAMP)
	$(PY) -m sim.engines.embedded.fidelity $(FIDELITY_ARGS)

fake-tfc: $(STAMP)
	$(PY) -m fake_tfc

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .mypy_cache
