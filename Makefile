# DESA stellar embedding explorer. Two commands: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DESA_DATA_DIR ?= $(CURDIR)/desa_data
SURVEY ?= demo
DEMO_STARS ?= 2500
DEMO_CONFIG ?= demo
# Seed of the simulated survey (and of its star-level split); pick a fresh one to check a figure.
SIM_SEED ?= 0
PORT ?= 5006
SURVEY_DIR := $(DESA_DATA_DIR)/$(SURVEY)
export DESA_DATA_DIR

# pip prints ~65 harmless "Location 'file:///...' is ignored" lines on our machines.
PIP_FILTER := { grep -v -e "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help install chromium demo demo-data serve test test-fast lint clean-demo evaluate evaluate-20k bench bench-full soak

help:
	@echo "make demo   - set up .venv, build the demo survey and model if absent, serve on 127.0.0.1:$(PORT)"
	@echo "make test   - set up .venv and Chromium, run the whole test suite (browser tests included)"
	@echo "make lint   - ruff"
	@echo "make evaluate-20k - simulate 20k stars, train the demo config, evaluate DESA against 4 baselines"
	@echo "make bench  - benchmarks (<= 15 min on 2 cores) -> benchmarks/RESULTS.md; bench-full: largest sizes"
	@echo "make soak   - 20 browser sessions x 5 min against desa serve -> benchmarks/soak_results.json"
	@echo "data root: $(DESA_DATA_DIR) (set DESA_DATA_DIR to move it)"

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | $(PIP_FILTER)
	$(BIN)/python -m pip install -q -e '.[test,dev]' 2>&1 | $(PIP_FILTER)
	@$(BIN)/python -c "import torch; assert '+cpu' in torch.__version__ or torch.cuda.is_available(), torch.__version__"
	@touch $@

install: $(BIN)/.installed

chromium:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "installing Debian's chromium and chromium-driver (browser tests)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# --- demo artefacts: each step runs only when its output is missing ---------------------------
# Order-only prerequisites (after `|`): `desa embed` rewrites the store, and timestamps must
# not make a second `make demo` retrain or re-embed.
$(SURVEY_DIR)/raw/truth.parquet: | $(BIN)/.installed
	$(BIN)/desa simulate --survey $(SURVEY) --n-stars $(DEMO_STARS) --seed $(SIM_SEED)

$(SURVEY_DIR)/store/ingest.complete: | $(SURVEY_DIR)/raw/truth.parquet
	$(BIN)/desa ingest --survey $(SURVEY) --seed $(SIM_SEED)

$(SURVEY_DIR)/models/$(DEMO_CONFIG)/.complete: | $(SURVEY_DIR)/store/ingest.complete
	$(BIN)/desa train --survey $(SURVEY) --config $(DEMO_CONFIG) --resume
	@touch $@

$(SURVEY_DIR)/store/embed.complete: | $(SURVEY_DIR)/models/$(DEMO_CONFIG)/.complete
	$(BIN)/desa embed --survey $(SURVEY) --run $(DEMO_CONFIG)

demo-data: $(SURVEY_DIR)/store/embed.complete

demo: install demo-data
	$(BIN)/desa serve --survey $(SURVEY) --port $(PORT)

serve: install
	$(BIN)/desa serve --survey $(SURVEY) --port $(PORT)

clean-demo:
	rm -rf $(SURVEY_DIR)

# --- evaluation: DESA against its four baselines on the test split (report in <survey>/reports/)
evaluate: demo-data
	$(BIN)/desa evaluate --survey $(SURVEY) --run $(DEMO_CONFIG)

# The acceptance survey of the evaluation: 20,000 simulated stars, the `demo` training config.
# `make evaluate-20k SIM_SEED=2026` checks the figures on a survey nobody tuned on.
evaluate-20k:
	$(MAKE) evaluate SURVEY=eval20k-$(SIM_SEED) DEMO_STARS=20000 SIM_SEED=$(SIM_SEED)

# --- tests ----------------------------------------------------------------------------------
test: install chromium lint
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not ui and not slow"

# Lint gates `make test`: the rules (and why) are in pyproject.toml [tool.ruff].
lint: install
	$(BIN)/ruff check desa_core training data dashboard tests benchmarks
	$(BIN)/ruff format --check desa_core training data dashboard tests benchmarks

# --- benchmarks: figures against stock baselines in the same run, never asserted in tests -----
bench: install chromium
	$(BIN)/python -m benchmarks.run_all --profile quick

bench-full: install chromium
	$(BIN)/python -m benchmarks.run_all --profile full

# --- load test: SOAK_SESSIONS browsers for SOAK_MINUTES on a synthetic survey -> soak_results.json
SOAK_SESSIONS ?= 20
SOAK_MINUTES ?= 5
soak: install chromium
	$(BIN)/python -m benchmarks.soak --sessions $(SOAK_SESSIONS) --minutes $(SOAK_MINUTES)
