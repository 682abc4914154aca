# Lookout: `make run` starts the server on the embedded relay, `make test` runs every test.
# Both install the Debian packages they need first (with sudo only when not root).

SWIFT        ?= swift
CONFIG       ?= release
SUDO         := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
BUILD_DEPS   := libhiredis-dev libsqlite3-dev pkg-config
TEST_DEPS    := redis-server redis-tools prometheus prometheus-alertmanager jq sqlite3 iproute2
BENCH_DEPS   := redis-server redis-tools
ARGS         ?=

.PHONY: all deps test-deps build run test bench clean

all: build

# Installs the packages in $(1) that dpkg does not already list as installed.
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_DEPS))

test-deps: deps
	$(call apt_install,$(TEST_DEPS))

build: deps
	$(SWIFT) build -c $(CONFIG) --product lookout

run: build
	@echo "lookout: relay on 127.0.0.1:6380, metrics on http://127.0.0.1:9480/metrics — try: redis-cli -p 6380 subscribe orders"
	@echo "lookout: for synthetic traffic, consumers and alerts: make run ARGS=--demo"
	$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/lookout serve $(ARGS)

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Benchmarks in release mode against a real redis-server started on a free loopback port;
# QUICK=1 for a short run. Results also go to bench-results.json.
bench: deps
	$(call apt_install,$(BENCH_DEPS))
	$(SWIFT) build -c release
	$$($(SWIFT) build -c release --show-bin-path)/lookout-bench $(if $(QUICK),--quick) --json bench-results.json

clean:
	rm -rf .build
