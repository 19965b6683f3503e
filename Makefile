# Entry points for people and CI. Every target sets up what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STACK  ?= local

.PHONY: help setup up preview test fmt bench train serve clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[infra,service,train,dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv with everything the program, the service and the tests need

up: $(STAMP) ## pulumi up on STACK (default: local) with a local file backend and passphrase secrets
	STACK=$(STACK) scripts/pulumi-stack.sh up

preview: $(STAMP) ## pulumi preview on STACK (default: local)
	STACK=$(STACK) scripts/pulumi-stack.sh preview

test: $(STAMP) ## the whole test suite (what CI runs): lint, types, tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy stacks components model_service bench
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
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
