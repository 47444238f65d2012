# The two commands of the quick start: `make run` (TC-EEVSE suite on the virtual bench) and `make test`.
# `make run` uses rig.yaml's stimulus (emulator on the virtual bench); `make run STIMULUS=trigger` uses test event
# triggers. Both do all set-up first (apt packages, venv, npm); see scripts/setup.sh. `make check` runs the linters
# and the type checker (configured in pyproject.toml); `make test` runs it first.
VENV ?= .venv
RIG := $(VENV)/bin/rig
PY := $(VENV)/bin/python
DEFECTS ?=
STIMULUS ?=
ARGS ?=

comma := ,
DEFECT_ARGS := $(foreach d,$(subst $(comma), ,$(DEFECTS)),--dut-defect $(d))
STIMULUS_ARGS := $(if $(STIMULUS),--stimulus $(STIMULUS))

.PHONY: setup check run test bench clean

setup:
	@bash scripts/setup.sh

check: setup
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy

run: setup
	$(RIG) run $(DEFECT_ARGS) $(STIMULUS_ARGS) $(ARGS)

test: setup check
	cd virtual_evse && npm test --silent
	$(PY) -m pytest tests $(ARGS)

bench: setup
	$(PY) benchmarks/bench_matter.py
	$(PY) benchmarks/bench_report.py

clean:
	rm -rf reports/2* reports/latest
