# Lookout: `make run` starts the server on the embedded relay, `make test` runs every test.
# Both install the Debian packages they need first (with sudo only when not root).

SHELL        := /bin/bash
SWIFT        ?= swift
CONFIG       ?= release
SUDO         := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
BUILD_DEPS   := libhiredis-dev libsqlite3-dev pkg-config
DIST_DEPS    := dpkg-dev file groff-base lintian
TEST_DEPS    := redis-server redis-tools prometheus prometheus-alertmanager jq sqlite3 iproute2 chromium openssl python3-redis python3-jsonschema \
                systemd $(DIST_DEPS)
BENCH_DEPS   := redis-server redis-tools
ARGS         ?=

.PHONY: all deps test-deps build run test bench fuzz soak clean dist-build install install-files deb deb-files

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

# Every test in debug, then the relay, monitor and client end-to-end subset again in release
# (what users run: optimised, exclusivity checks off where Package.swift turns them off), then
# what `make install` and `make deb` ship, on the binary they ship (PackagingTests).
RELEASE_SUBSET := DifferentialTests|EndToEndTests|RealClientTests|RelayResilienceTests|RelaySecurityTests|PatternConsumerTests|ConsumerAlertTests|ScaleTests|TLSTests
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(SWIFT) build -c release --build-tests -Xswiftc -enable-testing
	$(SWIFT) test -c release --skip-build --filter '$(RELEASE_SUBSET)'
	$(DIST_BUILD)
	LOOKOUT_DIST_BIN=$(CURDIR)/$(LOOKOUT_BIN) $(SWIFT) test -c release --skip-build --filter PackagingTests

# Benchmarks in release mode against a real redis-server started on a free loopback port;
# QUICK=1 for a short run. Results also go to bench-results.json.
bench: deps
	$(call apt_install,$(BENCH_DEPS))
	$(SWIFT) build -c release
	$$($(SWIFT) build -c release --show-bin-path)/lookout-bench $(if $(QUICK),--quick) --json bench-results.json

# libFuzzer over every parser of untrusted input, FUZZ_RUNS executions each (default 1,000,000;
# FUZZ_TARGETS to pick). Seeds in Tests/FuzzCorpus are copied to .build-fuzz/corpus, which
# keeps what the fuzzer finds; a crash stops the run and leaves its input in .build-fuzz/crashes.
# Leaks are checked after each input (libFuzzer), not at exit: objects referenced only through
# Swift enum payloads (pointers with tag bits) look unreachable to LeakSanitizer's final scan.
FUZZ_RUNS    ?= 1000000
FUZZ_TARGETS ?= resp-request resp-reply heartbeat config redis-url event-contract asyncapi payload-shape
FUZZ_BUILD   := LOOKOUT_FUZZ=1 $(SWIFT) build -c release --scratch-path .build-fuzz --product lookout-fuzz \
                -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
fuzz: deps
	$(FUZZ_BUILD)
	@bin=$$($(FUZZ_BUILD) --show-bin-path)/lookout-fuzz; mkdir -p .build-fuzz/crashes; \
	for target in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$target && cp -n Tests/FuzzCorpus/$$target/* .build-fuzz/corpus/$$target/; \
	  echo "fuzz: $$target, $(FUZZ_RUNS) runs"; \
	  LSAN_OPTIONS=leak_check_at_exit=0 SWIFT_BACKTRACE=enable=no LOOKOUT_FUZZ_TARGET=$$target $$bin -runs=$(FUZZ_RUNS) -max_len=1024 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=.build-fuzz/crashes/$$target- .build-fuzz/corpus/$$target 2>&1 \
	    | grep -E "^(#[0-9]+ +DONE|stat::|==[0-9]+==|SUMMARY|Fatal|Test unit written)|Done [0-9]+ runs" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# A soak of `lookout serve` (release): churn on the relay, a Redis restart and a blackhole,
# then memory, descriptors, accounting, store and log checked. SOAK=60m for longer.
SOAK ?= 10m
soak: test-deps
	$(SWIFT) build -c release --product lookout
	$(SWIFT) build -c release --product LookoutSoak
	$$($(SWIFT) build -c release --show-bin-path)/LookoutSoak --duration $(SOAK)

# Installing on a host. The binary has the Swift runtime linked in (it runs where no Swift
# toolchain is) and no debug symbols; it is built in .build-dist so that it never rebuilds the
# release build the tests and benchmarks use. `make install PREFIX=/usr DESTDIR=/tmp/root` as usual.
PREFIX        ?= /usr/local
SYSCONFDIR    ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR       ?= $(PREFIX)/lib/systemd/system
DESTDIR       ?=
DIST_BUILD    := $(SWIFT) build -c release --static-swift-stdlib -Xlinker -z -Xlinker now --scratch-path .build-dist --product lookout
VERSION       := $(shell sed -n 's/.*static let current = "\(.*\)"/\1/p' Sources/LookoutCore/Support/LookoutVersion.swift)
LOOKOUT_BIN   ?= .build-dist/release/lookout
MAINTAINER    ?= Lookout maintainers <maintainers@lookout.example.org>

dist-build: deps
	$(call apt_install,$(DIST_DEPS))
	$(DIST_BUILD)

install: dist-build install-files

# Lays out $(LOOKOUT_BIN) (already built) and the files that go with it.
install-files:
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/lookout \
	  $(DESTDIR)$(PREFIX)/share/lookout/dashboards $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/doc/lookout
	install -m 0755 --strip $(LOOKOUT_BIN) $(DESTDIR)$(PREFIX)/bin/lookout
	sed -e 's|/usr/bin/lookout|$(PREFIX)/bin/lookout|g' -e 's|/etc/lookout/|$(SYSCONFDIR)/lookout/|g' dist/lookout.service \
	  > $(DESTDIR)$(UNITDIR)/lookout.service
	$(LOOKOUT_BIN) config example > $(DESTDIR)$(PREFIX)/share/lookout/lookout.example.yaml
	test -e $(DESTDIR)$(SYSCONFDIR)/lookout/lookout.yaml || \
	  install -m 0644 $(DESTDIR)$(PREFIX)/share/lookout/lookout.example.yaml $(DESTDIR)$(SYSCONFDIR)/lookout/lookout.yaml
	install -m 0644 alerts.yml $(DESTDIR)$(PREFIX)/share/lookout/alerts.yml
	install -m 0644 dashboards/*.json $(DESTDIR)$(PREFIX)/share/lookout/dashboards/
	dist/manpage $(LOOKOUT_BIN) $(VERSION) | gzip -9n > $(DESTDIR)$(PREFIX)/share/man/man1/lookout.1.gz
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/lookout/README.md

# A Debian package in .build-dist/: the install layout under /usr and /etc, Depends computed from
# the binary's libraries, a lookout system user, the unit enabled but not started.
deb: dist-build
	$(MAKE) --no-print-directory deb-files

deb-files:
	rm -rf .build-dist/deb/root
	$(MAKE) --no-print-directory install-files DESTDIR=.build-dist/deb/root PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system
	dist/build-deb .build-dist/deb/root $(VERSION) .build-dist "$(MAINTAINER)"
	@if command -v lintian >/dev/null; then lintian --fail-on error,warning .build-dist/lookout_$(VERSION)_*.deb 2>&1 | grep -v "root privileges"; \
	  test $${PIPESTATUS[0]} -eq 0 && echo "deb: lintian clean"; else echo "deb: lintian is not installed; not checked"; fi

clean:
	rm -rf .build .build-dist
