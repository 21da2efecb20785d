# The two commands that matter: `make dev` (the whole system locally) and `make test` (every test).
SHELL := /bin/bash
.DEFAULT_GOAL := help

help:
	@echo "make dev    start emulator, simulator and every function behind one local HTTP API"
	@echo "make test   run every test (installs what it needs)"
	@echo "make bench  protocol benchmark beside openssl speed"
	@echo "make fuzz   run each fuzz target for a bounded time"
	@echo "make sim    run the Alipay gateway simulator on 127.0.0.1:\$$SIM_PORT (default 9999)"
	@echo "make zips   build the arm64 Lambda zips target/lambda/<fn>/bootstrap.zip (cargo lambda, slow)"
	@echo "make bench-stack  cold start, size, RSS, warm latency and DynamoDB calls per operation (release)"
	@echo "                  BEFORE_AFTER=1: beside the release-baseline profile, with ratios"

test:
	scripts/ensure-venv.sh >/dev/null
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo build --workspace --bins
	cargo test --workspace
	scripts/miniprogram-test.sh
	scripts/check-template.sh
	scripts/interop.sh
	ST_SKIP_BUILD=1 scripts/schemathesis.sh
	scripts/audit.sh

bench:
	cargo run --release -p alipay-protocol --example bench

fuzz:
	scripts/fuzz.sh

.PHONY: help test bench fuzz

dev:
	scripts/dev.sh

.PHONY: dev

sim:
	SIM_PORT=$${SIM_PORT:-9999} cargo run -p alipay-sim

.PHONY: sim

# The arm64 Lambda zips (not part of make test: a release cross build). ZIPS_FLAGS=--x86 for x86_64;
# ZIPS_FLAGS="--profile release-baseline" for the profile before the size work (target/lambda-release-baseline).
zips:
	scripts/build-lambdas.sh $(ZIPS_FLAGS)

.PHONY: zips

# The numbers of docs/numbers.md: release binaries, moto, the simulator, local-stack; prints tables.
# BEFORE_AFTER=1 also builds the functions with the release-baseline profile (the Lambda profile before
# the size work) and cold-starts them in the same rounds: one table, both builds, the ratio. It reads the
# arm64 zips of both profiles if present: make zips; make zips ZIPS_FLAGS="--profile release-baseline".
# BASELINE_FUNCTIONS="send-trigger tunnel-reader" limits the baseline build to some functions.
FUNCTIONS := $(notdir $(patsubst %/Cargo.toml,%,$(wildcard functions/*/Cargo.toml)))
BASELINE_FUNCTIONS ?= $(FUNCTIONS)
bench-stack:
	scripts/ensure-venv.sh >/dev/null
	test -d tests/interop/node_modules/alipay-sdk || (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
	cargo build --release --bins -p stack-bench $(addprefix -p ,$(FUNCTIONS))
	$(if $(BEFORE_AFTER),cargo build --profile release-baseline --bins $(addprefix -p ,$(BASELINE_FUNCTIONS)))
	target/release/stack-bench $(if $(BEFORE_AFTER),--baseline-dir target/release-baseline) $(BENCH_FLAGS)

.PHONY: bench-stack
