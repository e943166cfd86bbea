# mlkit: two commands for a newcomer.
#   make lab    set everything up and open JupyterLab on course/ and labs/
#   make test   set everything up and run the whole test suite (and the grading benchmark)
#   make hub-tools  JupyterHub's proxy for a class hub (npm ci; `make test` runs it too)
#   make hub    a class hub on 127.0.0.1:$(HUB_PORT) (docs/class-hub.md): HUB_INSTRUCTOR=name
#   make site   the course as a static site in .scratch/site/html (mlkit/site.py); course
#               pages carry the outputs `make test` saved, or SITE_ARGS=--execute runs them
#   make bench  the five benchmarks at full size (grading, serving, drift, cache, exchange)
# CI runs `bash .ci/run`, which installs the system packages (Docker, debootstrap,
# Chromium, Redis, PostgreSQL, Prometheus, Alertmanager), starts the Docker engine, builds
# the local base image and calls `make test`.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
LAB_PORT ?= 8888
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=
# Optional extras to install beside the dev tools, e.g. `make test EXTRAS=dev,tensorflow`
# (pyproject.toml [project.optional-dependencies]; CI installs all of them, see .ci/run).
EXTRAS ?= dev
COMMA := ,
STAMP := $(VENV)/.mlkit-installed-$(subst $(COMMA),-,$(EXTRAS))

HUB_PORT ?= 8000
HUB_INSTRUCTOR ?= instructor

.PHONY: setup hub-tools hub lab test lint assign bench clean-scratch site

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "mlkit needs Python >= 3.11; set PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mlkit)"
	touch $(STAMP)

# JupyterHub's proxy for a class hub (mlkit/hub): configurable-http-proxy, and MathJax for
# the course site, pinned in package.json and package-lock.json, installed into
# node_modules/ (needs Node.js >= 20).
NODE_TOOLS := node_modules/.package-lock.json

hub-tools: $(NODE_TOOLS)

$(NODE_TOOLS): package.json package-lock.json
	npm ci --no-audit --no-fund

# A class hub on one machine (docs/class-hub.md): JupyterHub with its proxy, the exchange,
# the idle culler, NativeAuthenticator accounts and a container per learner (the learner
# image deploy/learner-image/Dockerfile is built the first time). Needs a Docker engine.
hub: setup hub-tools
	$(BIN)/mlkit hub --instructor '$(HUB_INSTRUCTOR)' --port $(HUB_PORT)

# JupyterLab at the project folder, with the kit's Jupyter configuration (jupyter-config/:
# instructor folders hidden, kernel traffic encrypted, no news or update checks).
# tests/support/jupyterlab.py lab_command() is this same command line (test_jupyterlab_support checks).
lab: setup
	JUPYTER_CONFIG_PATH='$(CURDIR)/jupyter-config' $(BIN)/python -m jupyterlab \
		'--ServerApp.root_dir=$(CURDIR)' --ip=127.0.0.1 --no-browser $(ROOT_FLAG) \
		--port=$(LAB_PORT) --ServerApp.port_retries=0

SITE_ARGS ?=

# The course site: course notebooks with their outputs, labs as released, the instructor
# guide; Sphinx's search. Open .scratch/site/html/index.html.
site: setup hub-tools
	$(BIN)/mlkit site $(SITE_ARGS)

lint: setup
	$(BIN)/ruff check mlkit tests bench
	$(BIN)/ruff format --check mlkit tests bench
	$(BIN)/mypy

test: setup hub-tools lint
	$(BIN)/mlkit assign --check
	MLKIT_QUICK=1 $(BIN)/pytest tests course solutions --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=600 -p no:cacheprovider --durations=20 $(PYTEST_ARGS)
	MLKIT_QUICK=1 $(BIN)/python bench/grading.py

bench: setup hub-tools
	$(BIN)/python bench/grading.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/cache.py
	$(BIN)/python bench/exchange.py

assign: setup
	$(BIN)/mlkit assign

clean-scratch:
	rm -rf .scratch
