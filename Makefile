# kubedr.backup: the project's interface. `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
REPO := $(CURDIR)
TB := $(REPO)/.testbed
# Set by hack/testbed/install-deps.sh (the cached virtualenv and binaries).
TOOLS = source $(TB)/tools.env && export PATH=$$KUBEDR_VENV/bin:$$KUBEDR_BIN_DIR:$$PATH
PYTEST_ARGS ?=
SANITY_DIR := $(TB)/sanity/ansible_collections/kubedr/backup

.PHONY: help deps cluster-up cluster-down sanity lint units integration pytest-integration ansible-integration bench demo ee test fuzz

help:
	@echo "make demo          on a fresh machine: test bed, seed scenario, backup, disaster, restore, summary"
	@echo "make test          everything CI runs: deps, sanity, lint, units, integration"
	@echo "make deps          install Debian/Python deps and build the test bed binaries (cached)"
	@echo "make cluster-up    start kwok cluster + MinIO, write .testbed/env"
	@echo "make cluster-down  stop them"
	@echo "make sanity | lint | units | integration"
	@echo "make bench         backup/restore throughput vs raw LIST/CREATE, peak RSS (writes bench-results.json)"
	@echo "make fuzz          100,000 mutated archives of a real backup through the restore (FUZZ_SEED, FUZZ_COUNT, FUZZ_REPLAY)"
	@echo "make ee            the execution environment's build context (collection tarball + ansible-builder create) in EE_DIR"

deps:
	@bash hack/testbed/install-deps.sh

cluster-up: deps
	@bash hack/testbed/cluster-up.sh

# The usual bed and the ones the integration tests' extra workers started (kubedr-gw1, ...).
cluster-down:
	@bash hack/testbed/cluster-down.sh
	@for dir in $(TB)/kwok/clusters/kubedr-gw*; do [ -d "$$dir" ] && bash hack/testbed/cluster-down.sh "$$(basename "$$dir")"; done; true

# ansible-test needs the collection at .../ansible_collections/kubedr/backup: a clean copy of the tracked files.
# A clean copy of the collection's files (tracked and new, not ignored) at $(1), as a git repo.
collection_copy = rm -rf $(1) && mkdir -p $(1) && \
	git ls-files -co --exclude-standard | grep -v '^\.testbed/' | tar -cf - -T - | tar -xf - -C $(1) && \
	cd $(1) && git init -q . && git add -A >/dev/null

sanity: deps
	@$(call collection_copy,$(SANITY_DIR))
	@$(TOOLS) && cd $(SANITY_DIR) && \
	  ansible-test sanity --local --python $$(python -c 'import sys;print("%d.%d"%sys.version_info[:2])') --color no

# The playbooks call kubedr.backup modules: the collection must be on the collections path.
lint: deps
	@$(TOOLS) && python -c 'import sys; sys.path.insert(0, "tests"); import testbed; testbed.ensure_collection_path()' && \
	  ANSIBLE_COLLECTIONS_PATH=$(TB)/collections ansible-lint --profile production --offline $$(ls -d roles playbooks 2>/dev/null)

# Property tests are seeded (override with PROPERTY_SEED=...; pytest prints the seed in its header).
PROPERTY_SEED ?= 20261202

units: deps
	@$(TOOLS) && python -m pytest -q tests/unit --hypothesis-seed=$(PROPERTY_SEED) $(PYTEST_ARGS)

AIT_DIR := $(TB)/ansible-test/ansible_collections/kubedr/backup

integration: cluster-up pytest-integration ansible-integration

# TEST_WORKERS processes, each on its own test bed (tests/integration/conftest.py), whole files per worker.
TEST_WORKERS ?= 2

pytest-integration: cluster-up
	@$(TOOLS) && python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30 --durations-min=15 \
	  --junitxml=$(TB)/integration-junit.xml tests/integration $(PYTEST_ARGS)

# ansible-test integration targets (tests/integration/targets) against the same test bed;
# the test bed's addresses reach them as variables through integration_config.yml.
ansible-integration: cluster-up
	@$(call collection_copy,$(AIT_DIR))
	@source $(TB)/env && printf 'kubedr_kubeconfig: %s\nkubedr_s3_endpoint: %s\nkubedr_s3_bucket: %s\nkubedr_s3_access_key: %s\nkubedr_s3_secret_key: %s\nkubedr_host_pods_dir: %s\n' \
	  "$$KUBECONFIG" "$$KUBEDR_S3_ENDPOINT" "$$KUBEDR_S3_BUCKET" "$$KUBEDR_S3_ACCESS_KEY" "$$KUBEDR_S3_SECRET_KEY" "$$KUBEDR_HOST_PODS_DIR" \
	  > $(AIT_DIR)/tests/integration/integration_config.yml
	@$(TOOLS) && cd $(AIT_DIR) && ansible-test integration --local --python $$(python -c 'import sys;print("%d.%d"%sys.version_info[:2])') --color no $(AIT_ARGS)

# The seed scenario as a story: deploy, back up, disaster, restore, summary.
demo: cluster-up
	@$(TOOLS) && python hack/demo/demo.py

# Throughput against the API server's own limits and peak RSS, in one run (BENCH_N=..., see tests/bench/bench.py).
bench: deps
	@$(TOOLS) && trap 'bash hack/testbed/cluster-down.sh bench' EXIT && python tests/bench/bench.py

# Mutation fuzzing of the restore's reading side (tests/fuzz/archive_fuzz.py): FUZZ_COUNT mutated archives of a
# real backup made on the test bed, restored in check mode (10 to 20 ms each: 100,000 in about 20 minutes).
# FUZZ_SEED picks the sample (default: today's date); every failure prints FUZZ_REPLAY=<seed>, which replays it
# on the same archive (kept in .testbed/fuzz-seed.tar.gz).
# Not in CI: CI runs a seeded sample in tests/integration/test_reliability.py.
FUZZ_COUNT ?= 100000
FUZZ_SEED ?=
FUZZ_REPLAY ?=

fuzz: cluster-up
	@$(TOOLS) && FUZZ_SEED="$(FUZZ_SEED)" FUZZ_COUNT="$(FUZZ_COUNT)" FUZZ_REPLAY="$(FUZZ_REPLAY)" \
	  python -m pytest -q -s tests/fuzz $(PYTEST_ARGS)

# The execution environment image (schedule_image, AWX/AAP): its ansible-builder v3 build context, built from a clean
# copy of the collection. No container engine is needed here; build and push the image from the context with
#   podman build -t <registry>/kubedr-backup-ee:<version> $(EE_DIR)/context   (docs/operations.md)
# ansible-builder lives in a virtualenv of its own, cached under ~/.cache/kubedr (made once).
EE_DIR ?= $(TB)/ee
ANSIBLE_BUILDER_VERSION := 3.1.1
ANSIBLE_BUILDER_VENV := $(HOME)/.cache/kubedr/ansible-builder-$(ANSIBLE_BUILDER_VERSION)

ee: deps
	@rm -rf $(EE_DIR)/src && mkdir -p $(EE_DIR)/src && \
	  git ls-files -co --exclude-standard | grep -v '^\.testbed/' | grep -vxF -f <(git ls-files -d) \
	  | tar -cf - -T - | tar -xf - -C $(EE_DIR)/src
	@$(TOOLS) && set -e && \
	  if [ ! -e $(ANSIBLE_BUILDER_VENV)/.installed ]; then \
	    rm -rf $(ANSIBLE_BUILDER_VENV) && python -m venv $(ANSIBLE_BUILDER_VENV) && \
	    $(ANSIBLE_BUILDER_VENV)/bin/pip install -q ansible-builder==$(ANSIBLE_BUILDER_VERSION) && \
	    touch $(ANSIBLE_BUILDER_VENV)/.installed; \
	  fi && \
	  rm -rf $(EE_DIR)/dist $(EE_DIR)/context && \
	  ansible-galaxy collection build --force --output-path $(EE_DIR)/dist $(EE_DIR)/src >/dev/null && \
	  cp $(EE_DIR)/dist/kubedr-backup-*.tar.gz $(EE_DIR)/kubedr-backup.tar.gz && \
	  cp execution-environment.yml requirements.txt bindep.txt $(EE_DIR)/ && \
	  $(ANSIBLE_BUILDER_VENV)/bin/ansible-builder create -f $(EE_DIR)/execution-environment.yml \
	    --context $(EE_DIR)/context --output-filename Containerfile && \
	  echo "collection: $$(ls $(EE_DIR)/dist)" && \
	  echo "build context: $(EE_DIR)/context (podman build -t <registry>/kubedr-backup-ee:<version> $(EE_DIR)/context)"

test: deps sanity lint units integration
