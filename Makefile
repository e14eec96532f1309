# toxiguard: the single entry point. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

DATA ?= ../shared/data/jigsaw/train_assembled.csv.gz
RUN ?= runs/latest
ARTIFACTS ?= artifacts
TRIALS ?= 8
PYTEST_ARGS ?=
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help install browser train tune evaluate package model serve demo test lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install toxiguard with its dev tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

browser: ## Debian's chromium for the browser tests (apt-get; never a downloaded browser)
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

train: install ## train the Bi-LSTM on $(DATA) into $(RUN) (hyperparameters: ml/configs/hparams.json)
	$(BIN)/toxiguard train --data $(DATA) --run-dir $(RUN)

tune: install ## keras-tuner random search ($(TRIALS) trials); writes ml/configs/hparams.json
	$(BIN)/toxiguard tune --data $(DATA) --max-trials $(TRIALS)

evaluate: install ## validation report for $(RUN), with the NB-SVM baseline side by side
	$(BIN)/toxiguard evaluate --run $(RUN)

package: install ## export $(RUN) as $(ARTIFACTS)/<version>/ (model.tar.gz + manifest.json + report)
	$(BIN)/toxiguard package --run $(RUN) --out $(ARTIFACTS)

model: train evaluate package ## train, evaluate and package in one go

serve: install ## run the model server, gateway and web page locally (Ctrl-C stops; ports: GATEWAY_PORT, MODEL_SERVER_PORT)
	$(BIN)/toxiguard serve

demo: serve ## install what is missing, then serve the shipped model at http://127.0.0.1:8000/

test: install browser ## lint, then the whole test suite (unit, contract, browser)
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## benchmarks; JSON results under bench/results/ (model in-process, then the local stack)
	$(BIN)/python bench/ml_bench.py --data $(DATA)
	$(BIN)/python bench/serving_bench.py --data $(DATA)

clean: ## remove the virtualenv, runs and caches (keeps shipped artifacts)
	rm -rf $(VENV) runs reports .pytest_cache .ruff_cache ml/*.egg-info
