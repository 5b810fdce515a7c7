# Set-up, test and rehearsal entry points. Every target sets up what it needs, idempotently.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AZURITE_VERSION := 3.37.0
# Root installs system packages itself; any other user (a CI agent) goes through sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# The real tools, built from their Go modules by tools/install_tools.sh (see its header).
TOOLS := .tools
# One owner for the Helm version: the pipelines' variables file. The tests use the same Helm.
HELM_VERSION := $(shell sed -n 's/^  helmVersion: *"\{0,1\}\([0-9][0-9.]*\)"\{0,1\} *$$/\1/p' azure-pipelines/variables.yml)
ISTIO_VERSION := $(shell sed -n 's/^ISTIO_VERSION=//p' tools/install_tools.sh)
HELM_UNITTEST_MOD := tools/go/helm-unittest/go.mod tools/go/helm-unittest/go.sum

.PHONY: setup prometheus-tools tools control-plane demo test lint bench images clean clean-images

setup: $(VENV)/.installed

# Re-run the install whenever the declared dependencies change.
$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# MovieLens 100k ships inside recbole; only its data is used, so none of its dependencies.
	$(BIN)/python -m pip install --quiet --no-deps recbole==1.2.1
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node azurite@$(AZURITE_VERSION)
	touch $@

# Debian's prometheus package: promtool checks and unit-tests the alert rules and parses the
# dashboard's queries; the prometheus server answers the canary analysis (its tests and the
# rehearsal). Only the binaries are wanted: where systemd runs, the package's own service is
# stopped and disabled again at once.
prometheus-tools:
	command -v promtool >/dev/null && command -v prometheus >/dev/null || ( \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) apt-get install -y -q --no-install-recommends prometheus && \
	  if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now prometheus.service; fi )

# A stamp per tool and version: a second `make tools` builds nothing.
tools: $(TOOLS)/stamps/helm-$(HELM_VERSION) $(TOOLS)/stamps/helm-unittest \
	$(TOOLS)/stamps/istioctl-$(ISTIO_VERSION)

$(TOOLS)/stamps/helm-$(HELM_VERSION): tools/install_tools.sh
	HELM_VERSION=$(HELM_VERSION) bash tools/install_tools.sh --tools-dir $(TOOLS) helm
	mkdir -p $(@D) && touch $@

$(TOOLS)/stamps/helm-unittest: tools/install_tools.sh $(HELM_UNITTEST_MOD)
	bash tools/install_tools.sh --tools-dir $(TOOLS) helm-unittest
	mkdir -p $(@D) && touch $@

$(TOOLS)/stamps/istioctl-$(ISTIO_VERSION): tools/install_tools.sh
	bash tools/install_tools.sh --tools-dir $(TOOLS) istioctl
	mkdir -p $(@D) && touch $@

demo: setup prometheus-tools
	$(BIN)/mlrelease demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok from their Go
# modules (pinned in tools/go/*/go.mod) into .tools/bin, for tests/cluster/. A binary is rebuilt
# only when its wrapper module changes; the first build takes tens of minutes on two cores.
control-plane:
	bash tools/install_control_plane.sh --tools-dir $(TOOLS)

test: lint prometheus-tools tools control-plane
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/$(TOOLS)/bin:$(CURDIR)/$(VENV)/node/node_modules/.bin:$$PATH" \
		HELM_PLUGINS="$(CURDIR)/$(TOOLS)/helm-plugins" $(BIN)/python -m pytest

# Builds the images with the script the container tests and the pipeline run (see its header).
images: setup
	bash tools/build_images.sh

bench: setup
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(BIN)/python bench/chart_render.py
	$(BIN)/python bench/movielens_quality.py
	$(BIN)/python bench/scoring_inprocess.py
	$(BIN)/python bench/scoring_http.py

# Go's module and build caches are the user's defaults and stay.
clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache *.egg-info

# The image build's cache (debootstrap tarball, logs, Docker data root), after stopping
# the private dockerd that may still use it, and the build context.
IMAGE_CACHE ?= $(or $(MLRELEASE_IMAGE_CACHE),$(HOME)/.cache/mlrelease-images)
clean-images:
	MLRELEASE_IMAGE_CACHE="$(IMAGE_CACHE)" bash tools/build_images.sh stop-daemon || true
	rm -rf "$(IMAGE_CACHE)" build/images
