# Run `make help` for the list of targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
INVENTORY ?=
SANDBOX_HTTP_PORT ?= 8080
export CONTAINERS_CONF := $(CURDIR)/scripts/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1
export PATH := $(BIN):$(PATH)

# Every directory under molecule/ with a molecule.yml is a scenario.
SCENARIOS ?= $(sort $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

.PHONY: help setup deploy bench audit destroy lint unit molecule sandbox-test test clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt files/app/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -r files/app/requirements.txt
	touch $@

setup: $(VENV)/.installed ## Install the pinned controller tools into .venv

deploy: setup ## Provision INVENTORY=path, or the local sandbox host when INVENTORY is empty
ifeq ($(strip $(INVENTORY)),)
	scripts/sandbox.sh up
	$(BIN)/ansible-playbook playbook.yml
	@echo "The quote page is at http://127.0.0.1:$(SANDBOX_HTTP_PORT)/"
else
	$(BIN)/ansible-playbook -i "$(INVENTORY)" playbook.yml
endif

# The bench's own tools (matplotlib for its charts) go into .venv only when `make bench` runs.
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: setup $(VENV)/.bench-installed ## Benchmark converge and serving against the seed tutorial (table, .bench/results.json, charts)
	$(BIN)/python bench/bench.py

audit: ## Print lynis's hardening index of the sandbox host (after make deploy)
	scripts/lynis-audit.sh quote-sandbox

destroy: ## Remove the sandbox host
	scripts/sandbox.sh down

lint: setup ## Run yamllint and ansible-lint (production profile)
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production

unit: setup ## Run the app's unit tests
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

molecule: setup ## Run every molecule scenario (SCENARIOS="default ..." for some)
	command -v testssl >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends testssl.sh; }
	scripts/testbed-image.sh all
	scripts/sandbox.sh key
	QUOTE_NOFILE=$$(ulimit -Hn) && export QUOTE_NOFILE && \
	for scenario in $(SCENARIOS); do \
		$(BIN)/molecule --base-config .config/molecule/config.yml test -s "$$scenario" || exit 1; done

sandbox-test: setup ## Deploy the sandbox twice over SSH, check changed=0 and the page, remove it
	tests/sandbox/deploy-twice.sh

test: lint unit molecule sandbox-test ## Lint, unit tests, every molecule scenario and the sandbox deploy (CI)

clean: destroy ## Remove the sandbox and the controller virtualenv
	rm -rf $(VENV)
