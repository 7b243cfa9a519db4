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
# The demo model: `shipped` embeds with the weights in training/weights/$(DEMO_CONFIG) when they fit
# this code and survey (`desa embed --shipped` checks them), else trains them; `train` always trains.
DEMO_WEIGHTS ?= shipped
PORT ?= 5006
# Training runs as TRAIN_PROCS data-parallel processes (torchrun, gloo), each on its share of the
# cores: on 2 cores two one-thread processes train the demo config on 20,000 stars in ~10 min
# against ~12 with one two-thread process (benchmarks/RESULTS.md). TRAIN_PROCS=1 trains in-process.
NPROC := $(shell nproc 2>/dev/null || echo 1)
TRAIN_PROCS ?= $(if $(filter 1,$(NPROC)),1,2)
TRAIN_THREADS := $(shell echo $$(( $(NPROC) / $(TRAIN_PROCS) > 0 ? $(NPROC) / $(TRAIN_PROCS) : 1 )))
SURVEY_DIR := $(DESA_DATA_DIR)/$(SURVEY)
export DESA_DATA_DIR

# pip prints ~65 harmless "Location 'file:///...' is ignored" lines on our machines.
PIP_FILTER := { grep -v -e "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help install compile install-hats install-db chromium demo demo-data demo-train demo-weights serve test test-fast screenshots lint clean-demo evaluate evaluate-20k bench bench-full soak

help:
	@echo "make demo   - set up .venv, build the demo survey, embed it with the shipped model, serve on 127.0.0.1:$(PORT)"
	@echo "make demo-train   - train the demo model on the demo survey (~10 min), embed with it, serve"
	@echo "make demo-weights - retrain the demo model and rewrite the shipped weights (training/weights/$(DEMO_CONFIG))"
	@echo "make test   - set up .venv and Chromium, run the whole test suite (browser tests included)"
	@echo "make lint   - ruff"
	@echo "make screenshots - rewrite the README's screenshots (docs/screenshot*.png) from the browser tests"
	@echo "make evaluate-20k - simulate 20k stars, train the demo config, evaluate DESA against 4 baselines"
	@echo "make bench  - benchmarks (<= 15 min on 2 cores) -> benchmarks/RESULTS.md; bench-full: largest sizes"
	@echo "make soak   - 20 users (18 protocol, 2 Chromium) x 10 min, 10^6 stars, against desa serve -> benchmarks/soak_results.json"
	@echo "data root: $(DESA_DATA_DIR) (set DESA_DATA_DIR to move it)"

# --no-compile: pip byte-compiles every module of every package (torch, scipy, bokeh, ...) one
# at a time, ~60 of its ~105 s on 2 cores. `make demo` runs without: Python compiles what it
# imports (or, with PYTHONDONTWRITEBYTECODE set, compiles it again in each process; the demo's
# measured times include that). `make test`, `bench` and `soak` start many processes: they
# byte-compile .venv first, on every core (`compile`, ~30 s).
$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-compile --upgrade pip 2>&1 | $(PIP_FILTER)
	$(BIN)/python -m pip install -q --no-compile -e '.[test,dev]' 2>&1 | $(PIP_FILTER)
	@$(BIN)/python -c "import torch; assert '+cpu' in torch.__version__ or torch.cuda.is_available(), torch.__version__"
	@touch $@

install: $(BIN)/.installed

# -qq: a few packages ship files that are not Python 3 (templates, test data); they stay as they are.
$(BIN)/.compiled: $(BIN)/.installed
	$(BIN)/python -m compileall -qq -j 0 desa_core training data dashboard benchmarks \
		"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" || true
	@touch $@

compile: $(BIN)/.compiled

# The optional HATS writer (desa embed --format hats) and LSDB, for the tests (about 15 s to install).
$(BIN)/.installed-hats: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e '.[hats]' 2>&1 | $(PIP_FILTER)
	@touch $@

install-hats: $(BIN)/.installed-hats

# SQLAlchemy, for the follow-up lists by database URL and their tests (about 4 s to install).
$(BIN)/.installed-db: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e '.[db]' 2>&1 | $(PIP_FILTER)
	@touch $@

install-db: $(BIN)/.installed-db

chromium:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "installing Debian's chromium and chromium-driver (browser tests)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# --- demo artefacts: each step runs only when its output is missing ---------------------------
# Order-only prerequisites (after `|`): `desa embed` rewrites the store, and timestamps must
# not make a second `make demo` retrain or re-embed.
# umap-learn's first import in a new .venv compiles pynndescent's numba functions (~20 s on one
# core, cached in .venv): done in the background here, while simulate starts up on the other core.
$(SURVEY_DIR)/raw/truth.parquet: | $(BIN)/.installed
	@$(BIN)/python -c "import umap" >/dev/null 2>&1 &
	$(BIN)/desa simulate --survey $(SURVEY) --n-stars $(DEMO_STARS) --seed $(SIM_SEED)

# Likewise the dashboard's stack (Panel, HoloViews, Bokeh, datashader) is imported once in the
# background while ingest starts, so that `desa serve` finds it byte-compiled (unless
# PYTHONDONTWRITEBYTECODE is set: then it only warms the file cache).
$(SURVEY_DIR)/store/ingest.complete: | $(SURVEY_DIR)/raw/truth.parquet
	@$(BIN)/python -c "import dashboard.app" >/dev/null 2>&1 &
	$(BIN)/desa ingest --survey $(SURVEY) --seed $(SIM_SEED)

$(SURVEY_DIR)/models/$(DEMO_CONFIG)/.complete: | $(SURVEY_DIR)/store/ingest.complete
	OMP_NUM_THREADS=$(TRAIN_THREADS) $(BIN)/desa train --survey $(SURVEY) --config $(DEMO_CONFIG) --resume --nproc-per-node $(TRAIN_PROCS)
	@touch $@

# Shipped weights that do not fit (another architecture or grid: `desa embed --shipped` says which
# and exits with status 3 before embedding anything) are trained; any other error stops here.
$(SURVEY_DIR)/store/embed.complete: | $(SURVEY_DIR)/store/ingest.complete
	@status=3; \
	if [ "$(DEMO_WEIGHTS)" = shipped ]; then \
		$(BIN)/desa embed --survey $(SURVEY) --run $(DEMO_CONFIG) --shipped && status=0 || status=$$?; \
	fi; \
	if [ $$status = 3 ]; then \
		echo "training the $(DEMO_CONFIG) model on $(SURVEY) (about 10 minutes on 2 idle cores)"; \
		$(MAKE) --no-print-directory $(SURVEY_DIR)/models/$(DEMO_CONFIG)/.complete; \
		$(BIN)/desa embed --survey $(SURVEY) --run $(DEMO_CONFIG); \
	elif [ $$status != 0 ]; then exit $$status; fi

demo-data: $(SURVEY_DIR)/store/embed.complete

demo: install demo-data
	$(BIN)/desa serve --survey $(SURVEY) --port $(PORT)

# Retrain instead of using the shipped weights (a finished run is reused; `make clean-demo` to redo).
demo-train: install $(SURVEY_DIR)/models/$(DEMO_CONFIG)/.complete
	$(BIN)/desa embed --survey $(SURVEY) --run $(DEMO_CONFIG)
	$(BIN)/desa serve --survey $(SURVEY) --port $(PORT)

# Rebuild the shipped weights: train from scratch on the demo survey, record figures, rewrite
# training/weights/$(DEMO_CONFIG)/model.pt and model.json (commit them with the code they fit).
demo-weights: install
	$(BIN)/desa ship-weights --survey $(SURVEY) --config $(DEMO_CONFIG) --n-stars $(DEMO_STARS) --seed $(SIM_SEED)

serve: install
	$(BIN)/desa serve --survey $(SURVEY) --port $(PORT)

clean-demo:
	rm -rf $(SURVEY_DIR)

# --- evaluation: DESA against its four baselines on the test split (report in <survey>/reports/)
# It scores the stored embedding, so that is rewritten from the trained run first (`make demo` may
# have embedded the survey with the shipped weights).
evaluate: install $(SURVEY_DIR)/models/$(DEMO_CONFIG)/.complete
	$(BIN)/desa embed --survey $(SURVEY) --run $(DEMO_CONFIG)
	$(BIN)/desa evaluate --survey $(SURVEY) --run $(DEMO_CONFIG)

# The acceptance survey of the evaluation: 20,000 simulated stars, the `demo` training config.
# `make evaluate-20k SIM_SEED=2026` checks the figures on a survey nobody tuned on.
evaluate-20k:
	$(MAKE) evaluate SURVEY=eval20k-$(SIM_SEED) DEMO_STARS=20000 SIM_SEED=$(SIM_SEED)

# --- tests ----------------------------------------------------------------------------------
test: install compile install-hats install-db chromium lint
	$(BIN)/python -m pytest --durations=30

test-fast: install
	$(BIN)/python -m pytest -m "not ui and not slow"

# The browser tests that take the README's screenshots, writing them into docs/ (commit them when
# the page has changed); `make test` writes them to a temporary folder (tests/ui/conftest.py).
SCREENSHOT_TESTS = tests/ui/test_linked_selection.py tests/ui/test_star_card.py tests/ui/test_templates.py tests/ui/test_followup.py
screenshots: install compile install-hats install-db chromium
	DESA_SCREENSHOTS_DIR=$(CURDIR)/docs $(BIN)/python -m pytest $(SCREENSHOT_TESTS)

# Lint gates `make test`: the rules (and why) are in pyproject.toml [tool.ruff].
lint: install
	$(BIN)/ruff check desa_core training data dashboard tests benchmarks
	$(BIN)/ruff format --check desa_core training data dashboard tests benchmarks

# --- benchmarks: figures against stock baselines in the same run, never asserted in tests -----
bench: install compile chromium
	$(BIN)/python -m benchmarks.run_all --profile quick

bench-full: install compile chromium
	$(BIN)/python -m benchmarks.run_all --profile full

# --- load test: SOAK_SESSIONS users (SOAK_BROWSERS of them Chromium, the others Bokeh protocol
# clients) for SOAK_MINUTES on a synthetic SOAK_STARS survey; server on CPUs SOAK_SERVER_CPUS, load
# generator on SOAK_CLIENT_CPUS -> soak_results.json and its section of benchmarks/RESULTS.md
SOAK_SESSIONS ?= 20
SOAK_BROWSERS ?= 2
SOAK_MINUTES ?= 10
SOAK_STARS ?= 1000000
SOAK_SERVER_CPUS ?= 1
SOAK_CLIENT_CPUS ?= 0
SOAK_NUM_PROCS ?= 1
soak: install compile chromium
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.soak --sessions $(SOAK_SESSIONS) --browsers $(SOAK_BROWSERS) \
		--minutes $(SOAK_MINUTES) --stars $(SOAK_STARS) --num-procs $(SOAK_NUM_PROCS) \
		--server-cpus '$(SOAK_SERVER_CPUS)' --client-cpus '$(SOAK_CLIENT_CPUS)' --results-md benchmarks/RESULTS.md
