# Berth — run `make help` for the list of targets.
SHELL := bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PYTHON  ?= $(VENV)/bin/python
BIN     := $(CURDIR)/.bin
KUBECONFIG_DEV := $(CURDIR)/.cluster/kubeconfig
KUBECTL := $(BIN)/kubectl --kubeconfig $(KUBECONFIG_DEV)
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	@echo "[venv] installing Berth and its dev dependencies into $(VENV)..."
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	@$(PYTHON) -m pip install -q --upgrade pip
	@$(PYTHON) -m pip install -q -e '.[dev]'
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv with Berth and its dev dependencies (and the kubectl plugin kubectl-berth in .bin/).
	@mkdir -p $(BIN) && ln -sfn $(abspath $(VENV))/bin/kubectl-berth $(BIN)/kubectl-berth

.PHONY: tools
tools: ## Build the control plane tools (kube-*, etcd, kwok, helm) into the cache and link them into .bin/.
	@hack/tools.sh

.PHONY: test-tools
test-tools: ## Build the tools only tests need (Argo CD, Prometheus and promtool) into the cache and link them into .bin/.
	@hack/test-tools.sh

.PHONY: cluster
cluster: tools ## Start the local cluster (no-op when it is up); kubeconfig at .cluster/kubeconfig.
	@hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and leave no process or port behind.
	@hack/cluster.sh down

.PHONY: argocd
argocd: cluster test-tools ## Start a local Argo CD (controller, repo server, Redis) against the local cluster.
	@hack/argocd.sh up

.PHONY: argocd-down
argocd-down: ## Stop the local Argo CD started by `make argocd`, leaving no process behind.
	@hack/argocd.sh down

.PHONY: crds
crds: venv ## Generate crds/ from the pydantic models and admission/ from the policy rules (and the chart's copies).
	@$(PYTHON) -m berth crds --out crds/
	@$(PYTHON) -m berth admission --out admission/
	@$(MAKE) --no-print-directory chart-crds

.PHONY: lint
lint: venv ## Run ruff, ruff format --check, strict mypy and the import contracts.
	@$(VENV)/bin/ruff check operator tests hack
	@$(VENV)/bin/ruff format --check operator tests hack
	@$(VENV)/bin/mypy
	@$(VENV)/bin/lint-imports

# Material for MkDocs prints a banner about its end of life (May 2027) and its successor on
# every build; it is not a warning about the manual. Known and noted in docs/development.
DOCS_ENV := NO_MKDOCS_2_WARNING=1

.PHONY: docs
docs: venv ## Build the manual (docs/) into site/: strict, every internal link and anchor checked, the API reference generated from crds/.
	@$(DOCS_ENV) $(VENV)/bin/mkdocs build --strict --clean

.PHONY: docs-serve
docs-serve: venv ## Preview the manual at http://127.0.0.1:8000, rebuilt on every change to docs/ or crds/.
	@$(DOCS_ENV) $(VENV)/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8000

.PHONY: fmt
fmt: venv ## Format and autofix the code.
	@$(VENV)/bin/ruff format operator tests hack
	@$(VENV)/bin/ruff check --fix operator tests hack

.PHONY: backstage
backstage: ## Install the Backstage backend the portal's e2e test runs (npm; cached outside the checkout, not needed by `make dev`).
	@hack/backstage.sh >/dev/null

.PHONY: test
test: venv tools test-tools backstage ## Run every test: unit, then integration and e2e against a real control plane.
	@$(PYTHON) -m pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: venv ## Run the unit tests only (no cluster).
	@$(PYTHON) -m pytest tests/unit $(PYTEST_ARGS)

# Branch coverage of the controllers by the unit tests alone. The gate applies to the
# files in COVERAGE_GATE (coverage.py --include patterns); the table covers both packages.
COVERAGE_MIN  ?= 90
COVERAGE_GATE ?= operator/berth/handlers/*,operator/berth/coordination/*,operator/berth/kube/*

.PHONY: coverage
coverage: venv ## Unit tests with branch coverage of handlers/, coordination/ and kube/: print the table, fail under COVERAGE_MIN (90) % on COVERAGE_GATE.
	@$(PYTHON) -m pytest tests/unit --cov=berth.handlers --cov=berth.coordination --cov=berth.kube --cov-branch --cov-report=term-missing $(PYTEST_ARGS)
	@echo "[coverage] branch coverage of $(COVERAGE_GATE) by tests/unit: $$($(PYTHON) -m coverage report --include='$(COVERAGE_GATE)' --format=total) % (at least $(COVERAGE_MIN) % required)"
	@$(PYTHON) -m coverage report --include='$(COVERAGE_GATE)' --fail-under=$(COVERAGE_MIN) --format=total >/dev/null || { echo "[coverage] FAILED: under $(COVERAGE_MIN) %" >&2; exit 1; }

.PHONY: dev
dev: venv tools crds ## Quick start: cluster, CRDs, operator in the background, examples applied and Ready.
	@hack/dev.sh up

.PHONY: dev-down
dev-down: ## Stop the operator started by `make dev`, and the cluster.
	@hack/dev.sh down

.PHONY: run
run: venv ## Run the operator in the foreground against .cluster/kubeconfig.
	@$(PYTHON) -m berth run --kubeconfig $(KUBECONFIG_DEV)

N ?= 100
BENCH_ARGS ?=
# The shard table's replica counts (empty: no shard table) and its own flags.
SHARDS ?= 1,2,4
SHARD_ARGS ?=
.PHONY: bench
bench: venv tools ## Benchmark N Workloads (N=100..10000) beside the floor, then the shard table (SHARDS=1,2,4 replicas; SHARDS= skips it), on a cluster of its own (tables and JSON; not a test). BENCH_ARGS=--profile: under py-spy.
	@$(PYTHON) -m hack.bench.scale --workloads $(N) $(BENCH_ARGS) $(if $(SHARDS),--keep-cluster)
	@$(if $(SHARDS),$(PYTHON) -m hack.bench.shards --workloads $(N) --replicas $(SHARDS) $(SHARD_ARGS))

.PHONY: chaos
chaos: venv tools ## Chaos run on a cluster of its own: operator SIGKILLs, API server outage, checks (not in `make test`; CHAOS_ARGS=--help).
	@$(PYTHON) -m hack.chaos $(CHAOS_ARGS)

.PHONY: chart-crds
chart-crds: ## Copy crds/ into the Helm charts (charts/berth/crds, charts/berth-crds/files) and admission/ into charts/berth/admission.
	@cp crds/*.yaml charts/berth/crds/
	@cp crds/*.yaml charts/berth-crds/files/
	@mkdir -p charts/berth/admission && cp admission/*.yaml charts/berth/admission/

.PHONY: chart-lint
chart-lint: tools ## helm lint the charts.
	@$(BIN)/helm lint --strict --with-subcharts charts/berth
	@$(BIN)/helm lint --strict charts/berth-crds

.PHONY: release-tools
release-tools: ## Build crane and actionlint into their own cache and link them into .bin/.
	@hack/release-tools.sh

.PHONY: image
image: ## Build the operator image from the Dockerfile with no container engine (OCI layout in build/image).
	@hack/image.sh

.PHONY: image-test
image-test: venv tools ## Prove the image: its entrypoint on the test cluster, chart and image via a loopback registry.
	@$(PYTHON) -m pytest tests/e2e/test_image.py $(PYTEST_ARGS)

.PHONY: dist
dist: venv ## Build the Python sdist and wheel into dist/ (python -m build).
	@$(PYTHON) -m build --outdir dist

.PHONY: chart-package
chart-package: tools ## Package the chart into build/chart; IMAGE_REPOSITORY=<registry>/<owner>/berth names the image.
	@hack/chart-package.sh --image-repository "$(or $(IMAGE_REPOSITORY),berth)"

.PHONY: lint-workflows
lint-workflows: ## Lint .github/workflows with actionlint (and shellcheck for run steps).
	@hack/lint-workflows.sh
