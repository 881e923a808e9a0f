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

.PHONY: run test test-fast venv lint clean clean-all lock report

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The workflow, then its report, then the run's last words (positive control, conclusion, paths).
run: $(STAMP)
	BRAINTEACHER_END_SUMMARY=0 $(SNAKEMAKE) --cores $(CORES) --configfile $(CONFIG)
	$(MAKE) --no-print-directory report

# The report goes into the run's own folder; the package names it as the workflow does.
report: $(STAMP)
	run=$$($(BIN)/python -m brainteacher run-name $(CONFIG)) && \
	$(SNAKEMAKE) --cores $(CORES) --configfile $(CONFIG) --report "results/$$run/report.html" && \
	$(BIN)/python -m brainteacher run-summary "results/$$run"

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

# Only the default config's run (CONFIG=... for another); other runs, a long real one included, stay.
clean: $(STAMP)
	run=$$($(BIN)/python -m brainteacher run-name $(CONFIG)) && rm -rf "results/$$run"

# Every run and the shared simulated datasets, after asking.
clean-all:
	@read -r -p "Delete every run in results/ and .snakemake/ ? [y/N] " answer && [ "$$answer" = y ] && rm -rf results .snakemake || echo "kept"
