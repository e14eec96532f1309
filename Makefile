# toxiguard: the single entry point. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The offline infrastructure checks' tools, each in a virtualenv of its own (checkov's pins clash with python-hcl2).
INFRA_VENV := .venv-infra
CHECKOV_VENV := .venv-checkov
INFRA_STAMP := $(INFRA_VENV)/.installed-stamp
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
# The TensorFlow release of the endpoint's serving image, to prove the shipped artifact loads in it.
SERVING_TF_VENV := .venv-serving-tf
SERVING_TF_STAMP := $(SERVING_TF_VENV)/.installed-stamp

DATA ?= ../shared/data/jigsaw/train_assembled.csv.gz
# Labelled test comments for `make evaluate` (the honest check: the validation split flatters); empty skips it.
TEST ?= $(wildcard ../shared/data/jigsaw/test_dev.csv.gz)
RUN ?= runs/latest
# Optional pretrained word vectors for `make train` (fastText .vec, word2vec text or GloVe .txt, plain or .gz).
EMBEDDINGS ?=
# Optional extra training rows for `make train`, space-separated files in the training format (e.g. moderators'
# decisions from `toxiguard export-decisions`): merged into the training split only, later files win by id.
EXTRA ?=
ARTIFACTS ?= artifacts
TRIALS ?= 8
PYTEST_ARGS ?=
# AWS (make publish, make train-cloud): BUCKET is Terraform's output artifact_bucket_name; VERSION defaults to the
# newest under artifacts/; ROLE_ARN is a SageMaker execution role; REGION defaults to the AWS profile's.
BUCKET ?=
VERSION ?=
REGION ?=
ROLE_ARN ?=
# make score-cloud: IN and OUT are s3:// prefixes under the environment's batch_input_uri / batch_output_uri; its
# Terraform outputs (the transform role, the prefixes, the serving image) are read from terraform/envs/$(ENV).
IN ?=
OUT ?=
ENV ?= dev
INSTANCES ?=
INSTANCE_TYPE ?=
STACK_OUTPUTS := runs/stack-outputs-$(ENV).json
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

export TF_CPP_MIN_LOG_LEVEL ?= 2
# Terraform must not phone home for version and security bulletins (there is no network here).
export CHECKPOINT_DISABLE := 1

.PHONY: help install infra-tools browser train tune evaluate package model publish train-cloud score-cloud smoke serve demo test check-infra lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install toxiguard with its dev tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

infra-tools: $(INFRA_STAMP) $(CHECKOV_STAMP) $(SERVING_TF_STAMP) ## Terraform (fmt), python-hcl2, actionlint, zizmor, checkov, the serving image's TensorFlow

$(INFRA_STAMP): tests/infra/requirements-tools.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install --quiet --upgrade pip
	$(INFRA_VENV)/bin/pip install --quiet -r $<
	touch $@

$(CHECKOV_STAMP): tests/infra/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r $<
	touch $@

$(SERVING_TF_STAMP): tests/infra/requirements-serving-tf.txt
	$(PYTHON) -m venv $(SERVING_TF_VENV)
	$(SERVING_TF_VENV)/bin/pip install --quiet --upgrade pip
	$(SERVING_TF_VENV)/bin/pip install --quiet -r $<
	touch $@

browser: ## Debian's chromium for the browser tests (apt-get; never a downloaded browser)
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

train: install ## train the Bi-LSTM on $(DATA) into $(RUN) (hyperparameters: ml/configs/hparams.json; EMBEDDINGS=FILE: pretrained word vectors; EXTRA=FILES: more training rows)
	$(BIN)/toxiguard train --data $(DATA) --run-dir $(RUN) $(if $(EMBEDDINGS),--embeddings $(EMBEDDINGS)) $(foreach file,$(EXTRA),--extra $(file))

tune: install ## keras-tuner random search ($(TRIALS) trials); writes ml/configs/hparams.json
	$(BIN)/toxiguard tune --data $(DATA) --max-trials $(TRIALS)

evaluate: install ## report for $(RUN): validation, the TEST file, identity bias, functional suite, model card
	$(BIN)/toxiguard evaluate --run $(RUN) $(if $(TEST),--test $(TEST))

package: install ## export $(RUN) as $(ARTIFACTS)/<version>/ (model.tar.gz + manifest.json + report)
	$(BIN)/toxiguard package --run $(RUN) --out $(ARTIFACTS)

model: train evaluate package ## train, evaluate and package in one go

publish: install ## upload $(ARTIFACTS)/$(VERSION) to s3://$(BUCKET)/models/ behind the quality gate (TFVARS=file)
	@test -n "$(BUCKET)" || { echo "make publish: set BUCKET=<artifact bucket> (terraform output artifact_bucket_name)"; exit 2; }
	$(BIN)/toxiguard publish --bucket $(BUCKET) $(if $(VERSION),--artifact $(ARTIFACTS)/$(VERSION)) \
		$(if $(REGION),--region $(REGION)) $(if $(TFVARS),--tfvars-out $(TFVARS))

train-cloud: install ## SageMaker training job on $(DATA) (BUCKET, ROLE_ARN; EMBEDDINGS=FILE; TUNE=1: tuning job, WAIT=1: fetch the artifact)
	@test -n "$(BUCKET)" -a -n "$(ROLE_ARN)" || { echo "make train-cloud: set BUCKET=<artifact bucket> and ROLE_ARN=<SageMaker execution role>"; exit 2; }
	$(BIN)/toxiguard train-cloud --bucket $(BUCKET) --role-arn $(ROLE_ARN) --data $(DATA) $(if $(REGION),--region $(REGION)) \
		$(if $(EMBEDDINGS),--embeddings $(EMBEDDINGS)) $(if $(TUNE),--tune --max-jobs $(TRIALS)) $(if $(WAIT),--wait --out $(ARTIFACTS))

score-cloud: install ## score the CSVs under IN=s3://... into OUT=s3://... on SageMaker Batch Transform (ENV=dev; INSTANCES, INSTANCE_TYPE, VERSION; WAIT=1: join the output)
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "make score-cloud: set IN=s3://<batch bucket>/input/<folder>/ and OUT=s3://<batch bucket>/output/<folder>/ (terraform output batch_input_uri, batch_output_uri)"; exit 2; }
	@mkdir -p $(dir $(STACK_OUTPUTS))
	terraform -chdir=terraform/envs/$(ENV) output -json > $(STACK_OUTPUTS)
	$(BIN)/toxiguard score $(IN) --out $(OUT) --cloud --stack-outputs $(STACK_OUTPUTS) $(if $(REGION),--region $(REGION)) \
		$(if $(INSTANCES),--instances $(INSTANCES)) $(if $(INSTANCE_TYPE),--instance-type $(INSTANCE_TYPE)) \
		$(if $(VERSION),--version $(VERSION)) $(if $(WAIT),--wait)

smoke: install ## smoke-test a running stack: API_URL=... [SITE_URL=...] [VERSION=...] (standard library only)
	@test -n "$(API_URL)" || { echo "make smoke: set API_URL=<api url> (terraform output api_url)"; exit 2; }
	$(BIN)/python -m toxiguard.cloud.smoke --api $(API_URL) $(if $(SITE_URL),--site $(SITE_URL)) \
		$(if $(VERSION),--expect-version $(VERSION)) --wait 300

serve: install ## run the model server, gateway and web page locally (Ctrl-C stops; ports: GATEWAY_PORT, MODEL_SERVER_PORT)
	$(BIN)/toxiguard serve

demo: serve ## install what is missing, then serve the shipped model at http://127.0.0.1:8000/

test: install browser infra-tools ## lint, then the whole test suite (unit, contract, browser, offline infrastructure)
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest $(PYTEST_ARGS)

check-infra: install infra-tools ## only the offline infrastructure checks (tests/infra: Terraform, checkov, workflows)
	$(BIN)/pytest tests/infra $(PYTEST_ARGS)

lint: install ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## benchmarks; JSON results under bench/results/ (model in-process, the local stack, the review queue, Batch Transform's request order)
	$(BIN)/python bench/ml_bench.py --data $(DATA)
	$(BIN)/python bench/serving_bench.py --data $(DATA)
	$(BIN)/python bench/review_bench.py --data $(DATA)
	$(BIN)/python bench/transform_bench.py --data $(DATA)

clean: ## remove the virtualenvs, runs and caches (keeps shipped artifacts)
	rm -rf $(VENV) $(INFRA_VENV) $(CHECKOV_VENV) $(SERVING_TF_VENV) runs reports .pytest_cache .ruff_cache ml/*.egg-info
