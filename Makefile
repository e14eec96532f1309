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

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help install train tune evaluate package model demo test lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install toxiguard with its dev tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

train: install ## train the Bi-LSTM on $(DATA) into $(RUN) (hyperparameters: ml/configs/hparams.json)
	$(BIN)/toxiguard train --data $(DATA) --run-dir $(RUN)

tune: install ## keras-tuner random search ($(TRIALS) trials); writes ml/configs/hparams.json
	$(BIN)/toxiguard tune --data $(DATA) --max-trials $(TRIALS)

evaluate: install ## validation report for $(RUN), with the NB-SVM baseline side by side
	$(BIN)/toxiguard evaluate --run $(RUN)

package: install ## export $(RUN) as $(ARTIFACTS)/<version>/ (model.tar.gz + manifest.json + report)
	$(BIN)/toxiguard package --run $(RUN) --out $(ARTIFACTS)

model: train evaluate package ## train, evaluate and package in one go

demo: install ## score example comments with the shipped model
	@$(BIN)/toxiguard predict \
		"Thanks for fixing the references, the article reads much better now." \
		"You are a pathetic idiot and nobody wants you here." \
		"I will find where you live and hurt you." \
		"Could you add a source for the population figure?"

test: install ## lint, then the whole test suite
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## benchmarks; JSON results under bench/results/
	$(BIN)/python bench/ml_bench.py --data $(DATA)

clean: ## remove the virtualenv, runs and caches (keeps shipped artifacts)
	rm -rf $(VENV) runs reports .pytest_cache .ruff_cache ml/*.egg-info
