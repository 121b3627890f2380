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

.PHONY: help setup testbed deploy destroy lint unit molecule test clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt files/app/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -r files/app/requirements.txt
	touch $@

setup: $(VENV)/.installed ## Install the pinned controller tools into .venv

testbed: ## Install podman and debootstrap (Debian/Ubuntu controller) if they are missing
	scripts/testbed-packages.sh

deploy: setup ## Provision INVENTORY=path, or the local sandbox host when INVENTORY is empty
ifeq ($(strip $(INVENTORY)),)
	$(MAKE) --no-print-directory testbed
	scripts/sandbox.sh up
	$(BIN)/ansible-playbook playbook.yml
	@echo "The quote page is at http://127.0.0.1:$(SANDBOX_HTTP_PORT)/"
else
	$(BIN)/ansible-playbook -i "$(INVENTORY)" playbook.yml
endif

destroy: ## Remove the sandbox host
	scripts/sandbox.sh down

lint: setup ## Run yamllint and ansible-lint (production profile)
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production

unit: setup ## Run the app's unit tests
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

molecule: setup testbed ## Run every molecule scenario
	scripts/testbed-image.sh all
	for scenario in $$(ls molecule); do $(BIN)/molecule test -s "$$scenario"; done

test: lint unit molecule ## Lint, unit tests and every molecule scenario (what CI runs)

clean: destroy ## Remove the sandbox and the controller virtualenv
	rm -rf $(VENV)
