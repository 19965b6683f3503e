# Entry points for people and CI. Every target sets up what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STACK  ?= local
# checkov pins versions of shared libraries that clash with the test tools: it gets its own venv.
TOOLS  := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
CHECKOV_VERSION := 3.3.30

.PHONY: help setup up preview lint test fmt bench train serve clean

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

setup: $(STAMP) $(TOOLS_STAMP) ## create .venv (program, service, tests) and .venv-tools (checkov)

up: $(STAMP) ## pulumi up on STACK (default: local) with a local file backend and passphrase secrets
	STACK=$(STACK) scripts/pulumi-stack.sh up

preview: $(STAMP) ## pulumi preview on STACK (default: local)
	STACK=$(STACK) scripts/pulumi-stack.sh preview

lint: $(STAMP) ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy stacks components model_service bench inference_proxy smoke policy

test: lint $(TOOLS_STAMP) ## the whole test suite (what CI runs): lint, types, tests
	$(BIN)/python -m pytest

fmt: $(STAMP) ## format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## model-service benchmark against a Flask + gunicorn baseline and a bare endpoint
	$(BIN)/python -m bench

train: $(STAMP) ## train the model into artifacts/model
	$(BIN)/model-service train --output artifacts/model

serve: $(STAMP) ## serve artifacts/model on :8080
	MODEL_DIR=artifacts/model $(BIN)/model-service serve

clean: ## remove the virtualenv and caches (keeps .pulumi-state)
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .mypy_cache
