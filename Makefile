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

# Every benchmark runs and prints its figures; the target fails at the end if any missed its target.
BENCHMARKS := bench_matter bench_report bench_evse_timing bench_reaction bench_network_dut bench_reboot bench_waveform
bench: setup
	@missed=""; for b in $(BENCHMARKS); do echo "== $$b"; $(PY) benchmarks/$$b.py || missed="$$missed $$b"; done; \
	if [ -n "$$missed" ]; then echo "benchmarks that missed a target:$$missed"; exit 1; fi

clean:
	rm -rf reports/2* reports/latest
