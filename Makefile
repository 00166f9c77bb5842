# Two commands do everything on a fresh machine:
#   make run   install what is missing, start the local network and the REST gateways, print what runs where
#   make test  install what is missing, run every test (Go chaincode tests, Python unit and integration tests,
#              the Kubernetes overlays against a local control plane)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TDSES  := $(BIN)/tdses

.PHONY: run test tools venv down status clean test-go test-unit test-integration test-k8s-cluster cluster-tools browser-tools screenshots bench bench-metering bench-registry caliper-tools bench-caliper

run: tools
	$(TDSES) network up

test: tools cluster-tools browser-tools test-go
	$(BIN)/python -m pytest -ra

# A number of executions, not a duration: a wall-clock -fuzztime can end the run while a worker is still busy,
# and Go then reports "context deadline exceeded" as a failure.
FUZZTIME ?= 5000x

# Chaincode: vet, unit tests with coverage, then every fuzz target briefly (longer: make test-go FUZZTIME=200000x).
test-go:
	@cd chaincode && unformatted=$$(gofmt -l .) && [ -z "$$unformatted" ] || { echo "gofmt needed: $$unformatted"; exit 1; }
	cd chaincode && go vet ./... && go test -count=1 -cover ./...
	cd chaincode && for target in $$(go test ./contract -list '^Fuzz' | grep '^Fuzz'); do \
		go test ./contract -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) || exit 1; \
		echo "fuzzed $$target for $(FUZZTIME)"; done

test-unit: venv
	$(BIN)/python -m pytest -ra tests/unit

test-integration: tools
	$(BIN)/python -m pytest -ra tests/integration

# The overlays against a local Kubernetes control plane with fake nodes (part of `make test` too).
test-k8s-cluster: cluster-tools
	$(BIN)/python -m pytest -ra -m cluster tests/integration

# Fabric binaries, built from Go modules once per version into ~/.cache/tdses (or $TDSES_CACHE_DIR).
tools: venv
	$(TDSES) toolchain install

# The local Kubernetes control plane the cluster tests run (etcd, kube-apiserver, controller-manager,
# scheduler, kwok), built the same way: minutes the first time, nothing afterwards.
cluster-tools: venv
	$(TDSES) k8s cluster install

# The web pages' browser tests: Debian's Chromium (Playwright drives it; its own browser download is not used) and
# axe-core from npm, cached by version (tests/support/browser.py reads the same pins from here).
AXE_VERSION := 4.10.3
CACHE_DIR   ?= $(or $(TDSES_CACHE_DIR),$(HOME)/.cache/tdses)
# The README's pictures of the web pages, taken by the browser tests on a network of their own.
screenshots: tools browser-tools
	TDSES_SCREENSHOTS_DIR=$(CURDIR)/docs $(BIN)/python -m pytest -ra tests/integration/test_web.py

# Each npm install holds a lock beside its cache entry, as the Python installers do (tdses.buildcache): two runs at
# once install it one after the other.
browser-tools:
	@command -v chromium >/dev/null || { apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium; }
	@mkdir -p $(CACHE_DIR) && exec 9>$(CACHE_DIR)/axe-core-$(AXE_VERSION).lock && flock 9 && \
	{ test -f $(CACHE_DIR)/axe-core-$(AXE_VERSION)/node_modules/axe-core/axe.min.js || \
		npm install --silent --no-audit --no-fund --prefix $(CACHE_DIR)/axe-core-$(AXE_VERSION) axe-core@$(AXE_VERSION); }

# Hyperledger Caliper from npm, cached by version and bound to Fabric 2.5 (the @hyperledger/fabric-gateway client)
# once: the marker is written only after a complete bind. tests/benchmarks/caliper.py reads the same pins from here.
CALIPER_VERSION := 0.6.0
CALIPER_SUT     := fabric:2.5
CALIPER_DIR     := $(CACHE_DIR)/caliper-$(CALIPER_VERSION)

caliper-tools:
	@command -v npm >/dev/null || { echo "caliper-tools needs Node.js 20 and npm on the PATH"; exit 1; }
	@mkdir -p $(CACHE_DIR) && exec 9>$(CALIPER_DIR).lock && flock 9 && \
	{ test -f $(CALIPER_DIR)/.bound-$(subst :,-,$(CALIPER_SUT)) || { set -e; start=$$(date +%s); \
		echo "caliper-tools: installing @hyperledger/caliper-cli@$(CALIPER_VERSION) from npm into $(CALIPER_DIR)"; \
		npm install --no-audit --no-fund --loglevel=notice --prefix $(CALIPER_DIR) \
			@hyperledger/caliper-cli@$(CALIPER_VERSION); \
		echo "caliper-tools: binding Caliper to $(CALIPER_SUT) ($$(( $$(date +%s) - start )) s so far)"; \
		cd $(CALIPER_DIR) && ./node_modules/.bin/caliper bind --caliper-bind-sut $(CALIPER_SUT) \
			--caliper-bind-cwd $(CALIPER_DIR); \
		touch $(CALIPER_DIR)/.bound-$(subst :,-,$(CALIPER_SUT)); \
		echo "caliper-tools: Caliper $(CALIPER_VERSION) ready in $$(( $$(date +%s) - start )) s"; }; }

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The benchmark suite against `make run`'s network (tests/benchmarks/suite): REST gateway, Python client and the
# official Go client side by side, the paper's concurrency ramps, c=256 for 60 s; docs/bench.md and its plots.
# At most 15 minutes of points (shorter: BENCH='--quick'), then Caliper's two rounds when npm is present
# (BENCH_CALIPER: their arguments, as for bench-caliper).
BENCH ?=
BENCH_CALIPER ?=
bench: venv $(if $(shell command -v npm),caliper-tools)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	cd tests/benchmarks/loadgen && go vet ./... && go test -count=1 ./...
	$(BIN)/python -m tests.benchmarks.suite $(BENCH) \
		$(if $(shell command -v npm),--caliper-command "$(BIN)/python tests/benchmarks/caliper.py $(BENCH_CALIPER)")

# Metered calls against `make run`'s network: calls/s, added latency, transactions per 1,000 calls, and the plot.
bench-metering: venv
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python tests/benchmarks/metering.py --url http://127.0.0.1:7070 \
		--admin-token-file .state/network/secrets/org1-gateway-admin-token --plot docs/metering.png

# The registry index on a network of its own (started and deleted): search and single-service reads through REST at
# concurrency 1/8/64, the index's lag under purchases, the issue's targets; e.g. BENCH_REGISTRY='--limit 300'.
BENCH_REGISTRY ?=
bench-registry: tools
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python tests/benchmarks/registry.py --plot docs/registry.png $(BENCH_REGISTRY)

# Caliper's figures (TPS, latency, successes and failures) for the service query and the purchase of one call,
# against `make run`'s network (or TDSES_STATE_DIR's); e.g. BENCH_CALIPER='--seconds 60 --workers 2 --keep'.
bench-caliper: venv caliper-tools
	$(BIN)/python tests/benchmarks/caliper.py --state-dir $(or $(TDSES_STATE_DIR),.state/network) $(BENCH_CALIPER)

down: venv
	$(TDSES) network down

status: venv
	$(TDSES) network status

clean: venv
	$(TDSES) network clean
