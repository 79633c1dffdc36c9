# slipway: the two commands a user needs are `make demo` and `make test`; both set up first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/.venv/bin:$(PATH)
PY := .venv/bin/python
PYTEST_ARGS ?= --durations=20
# Images `make images` builds; trainer-cuda (torch's CUDA build, several GB) only on request.
IMAGES ?= trainer,predictor

.PHONY: help setup test lint fmt unit demo render images clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## install pinned dependencies and tools into .venv and .tools (idempotent)
	@bash .ci/setup.sh all

lint: setup ## ruff (lint + format check), mypy --strict, the import contracts
	ruff check src tests benchmarks scripts examples terraform/policies
	ruff format --check src tests benchmarks scripts examples terraform/policies
	mypy src/slipway
	lint-imports --no-logo --no-cache

fmt: setup ## apply ruff formatting and safe fixes
	ruff check --fix src tests benchmarks scripts examples terraform/policies
	ruff format src tests benchmarks scripts examples terraform/policies

test: setup lint ## lint, then the whole test suite (unit, contract, integration)
	$(PY) -m pytest $(PYTEST_ARGS)

unit: setup ## only the tests that start no server
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

demo: setup ## the whole loop on one machine: champion, shadow + canary promoted, bad one rolled back, drift -> retraining; a report
	slipway demo

render: setup ## render the Hera workflows into the ml-workflows chart
	slipway workflow render

images: setup ## build the images with podman: IMAGES=trainer,predictor[,trainer-cuda]
	$(PY) scripts/build_images.py build --images $(IMAGES)

clean: ## stop local servers and remove local state (.slipway)
	-slipway local down
	rm -rf .slipway
