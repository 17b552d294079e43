# Two commands do all the set-up on a fresh machine with Python 3.11 (and Node.js, Terraform if present):
#   make demo   runs the local stack          make test   runs the whole test suite
# Both bootstrap what they need: a virtualenv with the pinned packages, and the proxy from npm.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
# Terraform tests: the AWS provider comes from this local mirror when the machine has one, else `terraform init`
# downloads it. checkov (the Terraform security scan) lives in its own virtualenv: its dependencies fight ours.
TF_PLUGIN_DIR ?= $(if $(wildcard /opt/tf-plugins/registry.terraform.io),/opt/tf-plugins,)
export TF_PLUGIN_DIR
CHECKOV_VENV := .venv-checkov
# The AWS CLI (v1, from PyPI) for the end-to-end test of credential_process: its own virtualenv, its own botocore.
AWSCLI_VENV := .venv-awscli
# Apache Airflow with papermill for scheduled notebook runs (scheduler/): its own virtualenv, its dependencies fight ours.
AIRFLOW_VENV := .venv-airflow

.PHONY: venv checkov-venv awscli-venv airflow-venv test lint format docs demo lock clean

$(BIN)/.bootstrapped: requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

# configurable-http-proxy, the proxy JupyterHub (and the chart's proxy pod) runs, pinned in package-lock.json.
node_modules/.bootstrapped: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

venv: $(BIN)/.bootstrapped node_modules/.bootstrapped

$(CHECKOV_VENV)/.bootstrapped: requirements/checkov.txt $(BIN)/.bootstrapped
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip sync --quiet --python $(CHECKOV_VENV)/bin/python requirements/checkov.txt
	touch $@

checkov-venv: $(CHECKOV_VENV)/.bootstrapped

$(AWSCLI_VENV)/.bootstrapped: requirements/awscli.txt $(BIN)/.bootstrapped
	$(PYTHON) -m venv $(AWSCLI_VENV)
	$(BIN)/uv pip sync --quiet --python $(AWSCLI_VENV)/bin/python requirements/awscli.txt
	touch $@

awscli-venv: $(AWSCLI_VENV)/.bootstrapped

$(AIRFLOW_VENV)/.bootstrapped: requirements/airflow.txt $(BIN)/.bootstrapped
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(BIN)/uv pip sync --quiet --python $(AIRFLOW_VENV)/bin/python requirements/airflow.txt
	touch $@

airflow-venv: $(AIRFLOW_VENV)/.bootstrapped

lint: $(BIN)/.bootstrapped
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.bootstrapped
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# docs/configuration.md, from the traits' help (a unit test fails when it is out of date).
docs: $(BIN)/.bootstrapped
	$(BIN)/python docs/make_configuration.py

# The whole system on this machine: emulated Entra ID and AWS (moto), the Terraform example applied to it, the hub on
# http://127.0.0.1:8000. Prints who can sign in; Ctrl-C stops everything (hub/local_stack/). Needs Terraform.
demo: venv airflow-venv
	$(BIN)/python -m hub.local_stack

test: venv awscli-venv airflow-venv lint
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" $(BIN)/pytest $(PYTEST_ARGS)

# Re-pin after editing requirements/*.in; hub-side versions follow the chart's hub image.
lock: $(BIN)/.bootstrapped
	$(BIN)/uv pip compile requirements/hub.in -c requirements/k8s-hub-4.4.0-constraints.txt \
	  -p 3.11 --no-header --no-annotate -o requirements/hub.txt
	$(BIN)/uv pip compile requirements/dev.in -c requirements/k8s-hub-4.4.0-constraints.txt \
	  -p 3.11 --no-header --no-annotate -o requirements/dev.txt
	$(BIN)/uv pip compile requirements/airflow.in -p 3.11 --no-header --no-annotate -o requirements/airflow.txt

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(AWSCLI_VENV) $(AIRFLOW_VENV) node_modules .pytest_cache
