# Two entry points a fresh machine needs (see README): `make run` and `make test`.
# Both create the virtual environment on first use and install the pinned versions.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# The config `make run` and `make report` use; its run folder is results/<run>/ (README, Runs).
CONFIG ?= config/config.yaml
# The workflow profile (rerun-incomplete etc.): snakemake only finds profiles/default next to the
# Snakefile by itself, and ours lives in workflow/profiles as the catalog layout has it.
SNAKEMAKE = $(BIN)/snakemake --workflow-profile workflow/profiles/default
STAMP := $(VENV)/.installed

.PHONY: run test test-fast venv lint clean lock report

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) --configfile $(CONFIG)

# The report goes into the run's own folder; the package names it as the workflow does.
report: $(STAMP)
	run=$$($(BIN)/python -m brainteacher run-name $(CONFIG)) && \
	$(SNAKEMAKE) --cores $(CORES) --configfile $(CONFIG) --report "results/$$run/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Style and the workflow's own checks; CI runs this before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(SNAKEMAKE) --lint

# The fast loop while editing: every test not marked slow (under 30 s).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' | grep -v "^pip==" > requirements.lock.new && $(BIN)/python -m pip freeze --all | grep "^setuptools==" >> requirements.lock.new && mv requirements.lock.new requirements.lock

# Every run's folder and the shared simulated datasets.
clean:
	rm -rf results .snakemake
