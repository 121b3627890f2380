# Run `make help` for the list of targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# The controller's Python: ansible-core 2.21 needs >= 3.12. PYTHON=... names one; otherwise the
# newest release that runs and has venv, of python3.14, python3.13, python3.12 and python3 on PATH
# and pyenv's versions/*/bin/python3 (pyenv's shims fail unless pyenv selects their version; the
# pyenv root is `pyenv root`, else $PYENV_ROOT or ~/.pyenv).
PYTHON ?=
PYTHON_MIN := 3.12
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The PATH before .venv/bin joins it, to look for interpreters in.
HOST_PATH := $(PATH)
INVENTORY ?=
SANDBOX_HTTP_PORT ?= 8080
# The sandbox host's platform (scripts/testbed-image.sh --list); Ubuntu 26.04 LTS by default.
SANDBOX_PLATFORM ?= ubuntu2604
export CONTAINERS_CONF := $(CURDIR)/scripts/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1
export PATH := $(BIN):$(PATH)

# Every directory under molecule/ with a molecule.yml is a scenario.
SCENARIOS ?= $(sort $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

.PHONY: help python setup deploy bench bench-report audit destroy lint unit molecule sandbox-test test clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# What each candidate runs: a line "VERSION RELEASELEVEL OK EXECUTABLE" (OK is 1 for >= PYTHON_MIN,
# EXECUTABLE the real one: a shim, a venv or a python3 link all name it), then "venv" when venv
# and ensurepip import. Python 2 runs it too, to say its version.
python_check = import os, sys; v = sys.version_info; \
	ok = tuple(v[:2]) >= tuple(map(int, "$(PYTHON_MIN)".split("."))); \
	sys.stdout.write("%d.%d.%d %s %d %s\n" % (v[0], v[1], v[2], v.releaselevel, ok, os.path.realpath(sys.executable))); \
	sys.stdout.flush(); import venv, ensurepip; print("venv")

# Prints "VERSION EXECUTABLE" of the newest usable candidate (the first of equal versions), or
# "none"; with explain=1 it also writes a line per candidate to stderr: its version, or why not.
find_python = \
	export PATH='$(HOST_PATH)'; \
	check='$(python_check)'; \
	say() { if [[ -n $${explain-} ]]; then printf '  %-40s %s\n' "$$1" "$$2" >&2; fi; }; \
	if [[ -n '$(PYTHON)' ]]; then cands=('$(PYTHON)'); else \
		cands=(python3.14 python3.13 python3.12); \
		root=$$(pyenv root 2>/dev/null || printf '%s' "$${PYENV_ROOT:-$$HOME/.pyenv}"); \
		if [[ -d $$root/versions ]]; then for p in $$(printf '%s\n' "$$root"/versions/*/bin/python3 | sort -V -r); do \
			if [[ -x $$p ]]; then cands+=("$$p"); fi; done; fi; \
		cands+=(python3); \
	fi; \
	best=; best_v=; \
	for c in "$${cands[@]}"; do \
		if ! p=$$(command -v "$$c"); then say "$$c" "not found$$([[ $$c == */* ]] || echo " on PATH")"; continue; fi; \
		out=$$("$$p" -c "$$check" 2>&1 </dev/null) || true; \
		ver=; level=; ok=; exe=; read -r ver level ok exe <<<"$${out%%$$'\n'*}" || true; \
		if [[ ! $$ver =~ ^[0-9]+\.[0-9]+\.[0-9]+$$ ]]; then \
			say "$$c" "does not run ($$p: $${out%%$$'\n'*})"; continue; fi; \
		if [[ $$ok != 1 ]]; then say "$$c" "Python $$ver: older than $(PYTHON_MIN)"; continue; fi; \
		if [[ $$out != *$$'\n'venv ]]; then \
			say "$$c" "Python $$ver: no venv/ensurepip (Debian/Ubuntu: apt-get install python$${ver%.*}-venv)"; \
			continue; fi; \
		if [[ $$level != final && -z '$(PYTHON)' ]]; then \
			say "$$c" "Python $$ver $$level: a pre-release, skipped (PYTHON=$$exe uses it)"; continue; fi; \
		say "$$c" "Python $$ver ($$exe)"; \
		newest=$$(printf '%s\n' "$$best_v" "$$ver" | sort -V | tail -n 1); \
		if [[ -z $$best || $$newest != "$$best_v" ]]; then best=$$exe; best_v=$$ver; fi; \
	done; \
	if [[ -n $$best ]]; then echo "$$best_v $$best"; else echo none; fi

python: ## Show which Python (>= 3.12, the newest found) make setup uses for .venv, and why
	@echo "Candidates for the controller's Python (PYTHON=$(or $(PYTHON),<unset>)):"; \
	{ found=$$(explain=1; $(find_python)); } 2>&1; \
	if [[ $$found == none ]]; then echo 'None is usable: Python >= $(PYTHON_MIN) with venv is needed.'; exit 1; fi; \
	echo "Chosen: Python $${found%% *} ($${found#* })"

# "VERSION EXECUTABLE" of the chosen interpreter, rewritten (which makes .installed rebuild the
# venv) only when another one is chosen. Stops with the list of candidates when none qualifies.
$(VENV)/.python: FORCE
	@found=$$($(find_python)); \
	if [[ $$found == none ]]; then \
		echo 'No Python >= $(PYTHON_MIN) with venv found for the controller (ansible-core 2.21 needs it). Tried:' >&2; \
		(explain=1; $(find_python) >/dev/null); \
		echo 'Install Python >= $(PYTHON_MIN) with its venv module (e.g. python3.12 and python3.12-venv,' >&2; \
		echo 'or pyenv), or name one: make PYTHON=/path/to/python3.12 setup' >&2; \
		exit 1; fi; \
	if [[ ! -f $@ || $$(<$@) != "$$found" ]]; then mkdir -p $(VENV); echo "$$found" >$@; fi

# Rebuilt from scratch when a requirements file changes or another interpreter is chosen.
$(VENV)/.installed: requirements.txt files/app/requirements.txt $(VENV)/.python
	@found=$$(<$(VENV)/.python); \
	echo "rm -rf $(VENV); $${found#* } -m venv $(VENV)  # Python $${found%% *}"; \
	rm -rf $(VENV); \
	"$${found#* }" -m venv $(VENV); \
	echo "$$found" >$(VENV)/.python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -r files/app/requirements.txt
	touch $@

FORCE:

setup: $(VENV)/.installed ## Install the pinned controller tools into .venv

deploy: setup ## Provision INVENTORY=path, or the local sandbox host when INVENTORY is empty
ifeq ($(strip $(INVENTORY)),)
	SANDBOX_PLATFORM=$(SANDBOX_PLATFORM) scripts/sandbox.sh up
	$(BIN)/ansible-playbook playbook.yml
	@echo "The quote page is at http://127.0.0.1:$(SANDBOX_HTTP_PORT)/"
else
	$(BIN)/ansible-playbook -i "$(INVENTORY)" playbook.yml
endif

# The bench's own tools (matplotlib for its charts) go into .venv only when `make bench` runs.
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: setup $(VENV)/.bench-installed ## Benchmark converge and serving against the seed tutorial (.bench/results.json, docs/benchmark.md)
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/report.py

bench-report: setup $(VENV)/.bench-installed ## Rewrite docs/benchmark.md and its charts from .bench/results.json, measuring nothing
	$(BIN)/python bench/report.py

audit: ## Print lynis's hardening index of the sandbox host (after make deploy)
	scripts/lynis-audit.sh quote-sandbox

destroy: ## Remove the sandbox host
	scripts/sandbox.sh down

lint: setup ## Run yamllint and ansible-lint (production profile)
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production

unit: setup ## Run the unit tests (nginx -t with the distribution's nginx, unpacked, never installed)
	scripts/nginx-binary.sh >/dev/null
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
