# Entry points for people and CI. Every target sets up what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STACK  ?= local
# checkov pins versions of shared libraries that clash with the test tools: it gets its own venv.
TOOLS  := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
# Open Inference Protocol clients the interop tests drive (tritonclient, KServe): they pin
# libraries the platform's environment does not share, so they get their own venv.
CLIENTS := .venv-clients
CLIENTS_STAMP := $(CLIENTS)/.installed
TRITONCLIENT_VERSION := 2.73.0
KSERVE_VERSION := 0.21.0
# The policy pack's own virtualenv, where the Pulumi CLI looks for it (policy/PulumiPolicy.yaml).
POLICY_STAMP := policy/venv/.installed
CHECKOV_VERSION := 3.3.30

.PHONY: help setup deps up down open drift-demo preview release-model smoke lint test fmt bench train serve clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[infra,service,train,dev]'
	touch $(STAMP)

$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $(TOOLS_STAMP)

$(CLIENTS_STAMP):
	$(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/pip install --quiet 'tritonclient[http]==$(TRITONCLIENT_VERSION)' 'kserve==$(KSERVE_VERSION)'
	touch $(CLIENTS_STAMP)

$(POLICY_STAMP): policy/requirements.txt
	$(PYTHON) -m venv policy/venv
	policy/venv/bin/pip install --quiet -r policy/requirements.txt
	touch $(POLICY_STAMP)

setup: $(STAMP) $(TOOLS_STAMP) $(CLIENTS_STAMP) ## create .venv (program, service, tests), .venv-tools (checkov) and .venv-clients (tritonclient, KServe)

deps: $(STAMP) $(POLICY_STAMP) ## what deploy jobs need: .venv and the policy pack's virtualenv

up: ## pulumi up on STACK (default: local): prerequisites first (and a kind cluster, the model and its image on local), then the policy pack
	STACK=$(STACK) scripts/local-platform.sh prerequisites
	$(MAKE) --no-print-directory deps
	if [ "$(STACK)" = local ]; then scripts/local-platform.sh model-image; fi
	STACK=$(STACK) scripts/pulumi-stack.sh up

down: $(STAMP) ## destroy the local stack, and the kind cluster make up created (nothing else)
	scripts/local-platform.sh down

drift-demo: ## turn on the local load generator's drift (DRIFT=false turns it off): the drift alerts fire within about 10 minutes
	STACK=local scripts/pulumi-stack.sh config-set loadGeneratorDrift $(if $(DRIFT),$(DRIFT),true)
	STACK=local scripts/pulumi-stack.sh up
	@echo "Drift is $(if $(DRIFT),$(DRIFT),true). Watch it: make open, then the Model quality board and Alerting in Grafana."

open: ## port-forward Grafana and Prometheus of STACK and print the URL and the admin login
	STACK=$(STACK) scripts/local-platform.sh open

preview: $(STAMP) $(POLICY_STAMP) ## pulumi preview on STACK (default: local) with the policy pack
	STACK=$(STACK) scripts/pulumi-stack.sh preview

release-model: $(STAMP) ## train, publish to STACK's models bucket (quality gate on) and set its modelVersion
	$(BIN)/python -m delivery.release_model --stack $(STACK)

smoke: $(STAMP) ## smoke-test STACK's managed inference path (API and SageMaker endpoint)
	$(BIN)/python -m delivery.smoke --stack $(STACK)

lint: $(STAMP) ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy stacks components model_service monitoring bench inference_proxy drift_monitor delivery policy loadgen learning retrain_relay

test: lint $(TOOLS_STAMP) $(CLIENTS_STAMP) ## the whole test suite (what CI runs): lint, types, tests
	$(BIN)/python -m pytest

fmt: $(STAMP) ## format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## model-service benchmark against a Flask + gunicorn baseline and a bare endpoint
	$(BIN)/python -m bench

train: $(STAMP) ## train the model into artifacts/model/<version> and point artifacts/model/latest at it
	$(BIN)/model-service train --output artifacts/model

serve: $(STAMP) ## serve the model `make train` wrote last (artifacts/model/latest) on :8080
	MODEL_DIR=artifacts/model/latest $(BIN)/model-service serve

clean: ## remove the virtualenv and caches (keeps .pulumi-state)
	rm -rf $(VENV) $(TOOLS) $(CLIENTS) policy/venv .pytest_cache .ruff_cache .mypy_cache
