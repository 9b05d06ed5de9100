# kubedr.backup: the project's interface. `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
REPO := $(CURDIR)
TB := $(REPO)/.testbed
# Set by hack/testbed/install-deps.sh (the cached virtualenv and binaries).
TOOLS = source $(TB)/tools.env && export PATH=$$KUBEDR_VENV/bin:$$KUBEDR_BIN_DIR:$$PATH
PYTEST_ARGS ?=
SANITY_DIR := $(TB)/sanity/ansible_collections/kubedr/backup

.PHONY: help deps cluster-up cluster-down sanity lint units integration test

help:
	@echo "make test          everything CI runs: deps, sanity, lint, units, integration"
	@echo "make deps          install Debian/Python deps and build the test bed binaries (cached)"
	@echo "make cluster-up    start kwok cluster + MinIO, write .testbed/env"
	@echo "make cluster-down  stop them"
	@echo "make sanity | lint | units | integration"

deps:
	@bash hack/testbed/install-deps.sh

cluster-up: deps
	@bash hack/testbed/cluster-up.sh

cluster-down:
	@bash hack/testbed/cluster-down.sh

# ansible-test needs the collection at .../ansible_collections/kubedr/backup: a clean copy of the tracked files.
sanity: deps
	@rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR)
	@git ls-files -co --exclude-standard | grep -v '^\.testbed/' | tar -cf - -T - | tar -xf - -C $(SANITY_DIR)
	@$(TOOLS) && cd $(SANITY_DIR) && git init -q . && git add -A >/dev/null && \
	  ansible-test sanity --local --python $$(python -c 'import sys;print("%d.%d"%sys.version_info[:2])') --color no

lint: deps
	@$(TOOLS) && ansible-lint --profile production --offline roles playbooks

units: deps
	@$(TOOLS) && python -m pytest -q tests/unit $(PYTEST_ARGS)

integration: cluster-up
	@$(TOOLS) && python -m pytest -q tests/integration $(PYTEST_ARGS)

test: deps sanity lint units integration
